"""Post-hoc trajectory analysis: structure, dynamics, stability, EGraFFBench metrics and phases.

Classes follow MDAnalysis's pattern: construct with a :class:`Trajectory`, call ``run()``, read ``results``.

>>> traj = read_trajectory("traj.dump", types="1=O,2=H", timestep=0.0005)
>>> rdf = RDF(traj, pairs="O-O,O-H", r_max=6.0).run()
>>> rdf.results.bins, rdf.results.rdf["O-O"]
"""

from egraff.analysis.compare import (TemperatureComparison, compare_adfs, compare_diffusion, compare_rdfs,
                                     compare_temperatures)
from egraff.analysis.dynamics import MSD, diffusion_coefficient, windowed_msd
from egraff.analysis.metrics import (Violations, distribution_mae, egraffbench_r_max, energy_violation,
                                     force_violation, geometric_mean, jensen_shannon, reference_on_model_violations,
                                     trajectory_violations, wright_factor)
from egraff.analysis.phases import PhaseFractions
from egraff.analysis.stability import StabilityResult, bond_stability, rdf_stability
from egraff.analysis.structure import ADF, RDF, DistanceHistogram, natural_cutoffs
from egraff.analysis.trajectory import Trajectory, read_trajectory, unwrapped_positions

__all__ = [
    "ADF", "MSD", "RDF", "DistanceHistogram", "PhaseFractions", "StabilityResult", "TemperatureComparison",
    "Trajectory", "Violations", "bond_stability", "compare_adfs", "compare_diffusion", "compare_rdfs",
    "compare_temperatures", "diffusion_coefficient", "distribution_mae", "egraffbench_r_max", "energy_violation",
    "force_violation", "geometric_mean", "jensen_shannon", "natural_cutoffs", "rdf_stability", "read_trajectory",
    "reference_on_model_violations", "trajectory_violations", "unwrapped_positions", "windowed_msd", "wright_factor",
]
