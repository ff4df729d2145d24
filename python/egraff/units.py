"""Units: egraff works in LAMMPS ``metal`` units and converts with LAMMPS's own constants.

Quantities are Å, eV, ps, amu (g/mol), K and bar everywhere (positions, energies, forces in eV/Å,
velocities in Å/ps, stresses in eV/Å³ or bar). The conversion constants are the ones LAMMPS uses for
``units metal``, so that a number egraff computes (a kinetic energy, a temperature, a pressure) is
the number LAMMPS prints for the same state, to the last digit — not a CODATA value that differs
from it at 1e-8. Source: lammps/lammps ``src/update.cpp``, ``Update::set_units()``, branch
``"metal"`` (values unchanged since at least 2011; a test reads them back from the installed
LAMMPS with ``extract_global``), and ``src/utils.cpp`` ``utils::get_conversion_factor`` for
real → metal energies.

ASE's internal units share Å, eV and amu but measure time in sqrt(amu·Å²/eV) ≈ 10.18 fs; a metal
velocity v (Å/ps) is the ASE velocity v·sqrt(mvv2e), which keeps ½·m·v² the same energy in both.
"""

from __future__ import annotations

import math

import numpy as np

#: Boltzmann constant, eV/K (force->boltz)
BOLTZ = 8.617343e-5
#: amu·(Å/ps)² in eV: kinetic energy = ½·MVV2E·m·v² (force->mvv2e)
MVV2E = 1.0364269e-4
#: (eV/Å)·ps/amu in Å/ps: dv = FTM2V·F·dt/m (force->ftm2v)
FTM2V = 1.0 / 1.0364269e-4
#: eV/Å³ in bar: pressure = NKTV2P·(N·kB·T + virial/3)/V (force->nktv2p)
NKTV2P = 1.6021765e6
#: Coulomb constant e²/Å in eV (force->qqr2e)
QQR2E = 14.399645
#: kcal/mol in eV (utils::get_conversion_factor(ENERGY, REAL2METAL) = 1/23.060549)
KCAL_PER_MOL = 1.0 / 23.060549
#: ASE time units per ps
ASE_TIME_PER_PS = 1.0 / math.sqrt(MVV2E)


def velocities_to_ase(velocities) -> np.ndarray:
    """Å/ps → ASE velocity units."""
    return np.asarray(velocities, dtype=np.float64) / ASE_TIME_PER_PS


def velocities_from_ase(velocities) -> np.ndarray:
    """ASE velocity units → Å/ps."""
    return np.asarray(velocities, dtype=np.float64) * ASE_TIME_PER_PS


def kinetic_energy(masses, velocities) -> float:
    """eV, from masses in amu and velocities in Å/ps (LAMMPS's ``ke``)."""
    masses = np.asarray(masses, dtype=np.float64)
    return float(0.5 * MVV2E * np.einsum("n,nk,nk->", masses, velocities, velocities))


def kinetic_temperature(masses, velocities, degrees_of_freedom: int | None = None) -> float:
    """K from 2·KE/(dof·kB); dof defaults to 3N − 3, LAMMPS's ``compute temp`` with momentum removed."""
    dof = max(3 * len(masses) - 3, 1) if degrees_of_freedom is None else degrees_of_freedom
    return 2.0 * kinetic_energy(masses, velocities) / (dof * BOLTZ)
