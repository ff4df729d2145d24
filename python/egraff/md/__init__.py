"""MD with deployed models: plans of LAMMPS (or ASE) simulations, watched for failure, ready for analysis.

::

    from egraff.md import Plan, SystemSource, run_plan
    plan = Plan(models=["water.pt"], systems=[SystemSource("water", "inputs/data/water_64.data", type_names=("O", "H"))],
                temperatures=[300], seeds=[0, 1], protocol="fu-water", overrides={"steps": 20000})
    records = run_plan(plan.specs(), "runs", workers=2)

    # inside another Dask graph (the benchmark engine): one simulation per task
    spec = single_spec("water.pt", system, 300.0, protocol="fu-water", seed=0, steps=20000)
    future = client.submit(run_simulation, spec, "runs", pure=False)   # -> record dict

Modules: ``protocols`` (named presets), ``systems`` (initial structures), ``plan`` (specs, plans, checks),
``state`` (initial velocities, thermo CSV), ``watchdog`` (stability checks inside a run),
``lammps_engine`` / ``ase_engine`` (one simulation), ``runner`` (directories, records, Dask pool),
``builders`` (data files of ``inputs/``), ``cli`` (``egraff md ...``).
"""

from egraff.md.plan import Plan, PlanError, SimulationSpec, WatchdogLimits, single_spec
from egraff.md.protocols import PROTOCOLS, Protocol, get_protocol
from egraff.md.runner import read_record, run_plan, run_simulation, simulation_directory
from egraff.md.systems import StructureError, SystemSource

__all__ = ["PROTOCOLS", "Plan", "PlanError", "Protocol", "SimulationSpec", "StructureError", "SystemSource",
           "WatchdogLimits", "get_protocol", "read_record", "run_plan", "run_simulation", "simulation_directory",
           "single_spec"]
