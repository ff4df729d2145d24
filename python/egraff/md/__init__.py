"""MD with deployed models: plans of LAMMPS (or ASE) simulations, watched for failure, ready for analysis.

::

    from egraff.md import SimulationPlan, SystemSource, run_plan
    plan = SimulationPlan(models=["water.pt"], temperatures=[300], seeds=[0, 1], protocol="fu-water",
                          systems=[SystemSource(name="water", file="inputs/data/water_64.data", type_names=["O", "H"])],
                          overrides={"steps": 20000})
    records = run_plan(plan.specs(), "runs", workers=2)

    # one simulation into a directory of your own (what the benchmark's MD job does)
    spec = single_spec("water.pt", system, 300.0, protocol="fu-water", seed=0, steps=20000)
    summary = simulate(spec, directory)

Modules: ``protocols`` (named presets), ``systems`` (initial structures), ``plan`` (specs, plans, checks),
``state`` (initial velocities, thermo CSV), ``watchdog`` (stability checks inside a run),
``lammps_engine`` / ``ase_engine`` (one simulation), ``runner`` (simulation jobs on egraff.jobs),
``builders`` (data files of ``inputs/``), ``cli`` (``egraff md ...``).
"""

from egraff.md.plan import SimulationPlan, SimulationSpec, WatchdogLimits, single_spec
from egraff.md.protocols import PROTOCOLS, MDProtocol, get_protocol
from egraff.md.runner import (read_record, run_md, run_plan, run_simulation, simulate, simulation_directory,
                              simulation_job)
from egraff.md.systems import StructureError, SystemSource

__all__ = ["PROTOCOLS", "MDProtocol", "SimulationPlan", "SimulationSpec", "StructureError", "SystemSource",
           "WatchdogLimits", "get_protocol", "read_record", "run_md", "run_plan", "run_simulation", "simulate",
           "simulation_directory", "simulation_job", "single_spec"]
