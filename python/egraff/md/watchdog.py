"""The stability watchdog: called every ``check_every`` steps inside a run, it names the first failure.

Failures: a non-finite energy or temperature; a temperature above ``max_temperature_factor`` × the
plan temperature; a potential energy more than ``max_energy_rise_per_atom`` eV/atom above its
initial value (no thermostatted run at the plan temperature gets near either); lost atoms; and, for
molecules, Fu et al.'s bond-length criterion — the largest deviation of a bond from its reference
mean length above 0.5 Å — computed by :mod:`egraff.analysis.stability` (bonds from the initial frame
at natural cutoffs; reference lengths from ``bond_reference`` when the system gives one, else the
initial frame's).
"""

from __future__ import annotations

import math

import numpy as np

from egraff.md.systems import is_molecule

#: columns of the thermo CSV (one row per check)
THERMO_COLUMNS = ("step", "time_ps", "temperature_K", "potential_energy_eV", "kinetic_energy_eV",
                  "total_energy_eV", "pressure_bar", "volume_A3", "atoms")


def _snapshot(symbols, positions, cell, pbc):
    from egraff.analysis.trajectory import Trajectory

    return Trajectory(symbols=symbols, positions=np.asarray(positions)[None], cells=cell, pbc=pbc, steps=[0])


class Watchdog:
    def __init__(self, spec, atoms, initial_potential_energy: float):
        limits = spec.watchdog
        self.n_atoms = len(atoms)
        self.max_temperature = limits.max_temperature_factor * spec.temperature
        self.initial_potential_energy = initial_potential_energy
        self.max_energy_rise_per_atom = limits.max_energy_rise_per_atom
        self.bond_deviation = limits.bond_deviation
        self.symbols = atoms.get_chemical_symbols()
        self.bonds = None
        check_bonds = is_molecule(atoms) if limits.bond_check is None else limits.bond_check
        if check_bonds:
            self._set_reference_bonds(spec, atoms, required=limits.bond_check is True)

    def _set_reference_bonds(self, spec, atoms, required: bool) -> None:
        from egraff.analysis.stability import reference_bonds

        if spec.system.bond_reference:
            from egraff.analysis import read_trajectory

            reference = read_trajectory(spec.system.bond_reference)
        else:
            reference = _snapshot(self.symbols, atoms.positions, atoms.cell.array, atoms.pbc)
        try:
            self.bonds, self.reference_lengths = reference_bonds(reference)
        except ValueError:
            if required:
                raise
            self.bonds = None  # automatic check on a system without covalent bonds (e.g. a noble-gas cluster)

    def check(self, row: dict, configuration) -> str | None:
        """The failure reason at this row, or None while the run is healthy. ``configuration()`` returns
        (positions [N, 3] by atom id, cell, pbc); it is called only when bonds are checked (under MPI it
        is collective, and every rank takes the same branches since thermo values are global)."""
        values = (row["temperature_K"], row["potential_energy_eV"], row["kinetic_energy_eV"])
        if not all(math.isfinite(v) for v in values):
            return "non-finite energy or temperature"
        if row["atoms"] < self.n_atoms:
            return f"atoms lost: {self.n_atoms - int(row['atoms'])} of {self.n_atoms} left the simulation box"
        if row["temperature_K"] > self.max_temperature:
            return f"temperature exploded: {row['temperature_K']:.4g} K > {self.max_temperature:.4g} K"
        rise = (row["potential_energy_eV"] - self.initial_potential_energy) / self.n_atoms
        if rise > self.max_energy_rise_per_atom:
            return (f"potential energy exploded: {rise:.4g} eV/atom above its initial value "
                    f"(limit {self.max_energy_rise_per_atom:g} eV/atom)")
        if self.bonds is not None:
            from egraff.analysis.stability import bond_lengths

            lengths = bond_lengths(_snapshot(self.symbols, *configuration()), self.bonds)[0]
            deviation = np.abs(lengths - self.reference_lengths)
            worst = int(np.argmax(deviation))
            if deviation[worst] > self.bond_deviation:
                i, j = self.bonds[worst]
                return (f"bond-length criterion: bond {self.symbols[i]}{i + 1}-{self.symbols[j]}{j + 1} deviates "
                        f"{deviation[worst]:.3f} Å > {self.bond_deviation} Å from its reference length")
        return None
