"""egraff: equivariant graph neural network force fields, trained, deployed into LAMMPS and judged by MD.

Importing the package is cheap on purpose (no torch): the `lmp` console script imports part of it
at every start through the `lammps.plugins` entry point.
"""

__version__ = "0.1.0"
