"""Post-hoc trajectory analysis: structure, dynamics, stability, EGraFFBench metrics and phases.

Classes follow MDAnalysis's ``AnalysisBase``: construct with an egraff :class:`Trajectory` or an MDAnalysis
``Universe``/``AtomGroup``, call ``run(start, stop, step, frames, verbose)``, read ``results``.

>>> traj = read_trajectory("traj.dump", types="1=O,2=H", timestep=0.0005)
>>> rdf = RDF(traj, pairs="O-O,O-H", r_max=6.0).run()
>>> rdf.results.bins, rdf.results.rdf["O-O"]
>>> RDF(MDAnalysis.Universe("water.data", "traj.dcd"), pairs="O-O").run(step=10, verbose=True)
"""

from egraff.analysis.compare import (TemperatureComparison, compare_adfs, compare_diffusion, compare_rdfs,
                                     compare_temperatures, wright_factors)
from egraff.analysis.dynamics import MSD, diffusion_coefficient, windowed_msd
from egraff.analysis.metrics import (Contiguity, Violations, contiguity, distribution_mae, egraffbench_r_max,
                                     energy_violation, force_violation, geometric_mean, jsd_base2,
                                     reference_on_model_violations, relative_violation, trajectory_violations,
                                     wright_factor)
from egraff.analysis.phases import PhaseFractions
from egraff.analysis.stability import StabilityResult, bond_stability, rdf_stability
from egraff.analysis.structure import ADF, RDF, DistanceHistogram, natural_cutoffs
from egraff.analysis.trajectory import Trajectory, as_trajectory, read_trajectory, unwrapped_positions

__all__ = [
    "ADF", "MSD", "RDF", "Contiguity", "DistanceHistogram", "PhaseFractions", "StabilityResult",
    "TemperatureComparison", "Trajectory", "Violations", "as_trajectory", "bond_stability", "compare_adfs",
    "compare_diffusion", "compare_rdfs", "compare_temperatures", "contiguity", "diffusion_coefficient",
    "distribution_mae", "egraffbench_r_max", "energy_violation", "force_violation", "geometric_mean", "jsd_base2",
    "natural_cutoffs", "rdf_stability", "read_trajectory", "reference_on_model_violations", "relative_violation",
    "trajectory_violations", "unwrapped_positions", "windowed_msd", "wright_factor", "wright_factors",
]
