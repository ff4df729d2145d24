"""Named MD protocols from the literature (notes/egraffbench.md §6, notes/analysis.md §6.1).

A protocol fixes the ensemble, the integrator's parameters, the length and what is saved; the
temperature, seed and initial structure come from the plan. Every number is in the protocol (and
therefore in the simulation's content hash), so two runs with the same name and different settings
can never share an output directory.
"""

from __future__ import annotations

from typing import Literal

from ase import units
from pydantic import ConfigDict, Field, model_validator

from egraff.config import ConfigError, ConfigModel, suggest, validate

ENSEMBLES = ("nve", "langevin", "nose-hoover", "npt")
INITIAL_VELOCITIES = ("maxwell", "file", "zero")


class MDProtocol(ConfigModel):
    model_config = ConfigDict(frozen=True)

    name: str
    ensemble: Literal[ENSEMBLES]
    timestep_fs: float = Field(gt=0)
    steps: int = Field(gt=0)
    dump_every: int = Field(gt=0)  # trajectory frame interval (steps)
    check_every: int = Field(gt=0)  # watchdog check and thermo CSV row interval (steps)
    initial_frames: int = Field(1, gt=0)  # how many frames of a multi-frame system file a plan starts from
    friction_per_ps: float = Field(0.0, ge=0)  # langevin
    thermostat_steps: float = Field(0.0, ge=0)  # nose-hoover / npt: thermostat time in timesteps
    barostat_steps: float = Field(0.0, ge=0)  # npt: barostat time in timesteps
    pressure_bar: float = 1.01325  # npt
    initial_velocities: Literal[INITIAL_VELOCITIES] = "maxwell"  # maxwell at the plan temperature | file | zero
    description: str = ""

    @model_validator(mode="after")
    def _ensemble_has_its_settings(self):
        if self.ensemble == "langevin" and not self.friction_per_ps > 0:
            raise ConfigError(f"protocol {self.name}: a Langevin thermostat needs friction_per_ps > 0")
        if self.ensemble in ("nose-hoover", "npt") and not self.thermostat_steps > 0:
            raise ConfigError(f"protocol {self.name}: a Nosé–Hoover thermostat needs thermostat_steps > 0")
        if self.ensemble == "npt" and not self.barostat_steps > 0:
            raise ConfigError(f"protocol {self.name}: NPT needs barostat_steps > 0")
        return self

    @property
    def timestep_ps(self) -> float:
        return self.timestep_fs / 1000.0

    def as_dict(self) -> dict:
        return self.model_dump()

    def with_overrides(self, prefix: tuple = ("overrides",), **overrides) -> "MDProtocol":
        """This protocol with some settings changed; ``prefix`` names the overrides in error sentences."""
        settings = self.model_dump()
        unknown = sorted(set(overrides) - set(settings))
        if unknown:
            raise ConfigError(f"protocol {self.name} has no setting {unknown[0]!r}{suggest(unknown[0], settings)}; "
                              f"known: {', '.join(sorted(settings))}")
        return validate(MDProtocol, {**settings, **overrides}, prefix=prefix)


#: ASE's Langevin `friction=5e-3` (per ASE time unit, 10.18 fs) as EGraFFBench passes it, in 1/ps
_EGRAFFBENCH_FRICTION_PER_PS = 5e-3 * 1000.0 * units.fs

PROTOCOLS = {p.name: p for p in (
    MDProtocol(name="egraffbench", ensemble="langevin", timestep_fs=1.0, steps=1000, dump_every=1, check_every=10,
               initial_frames=10, friction_per_ps=_EGRAFFBENCH_FRICTION_PER_PS, initial_velocities="file",
               description="EGraFFBench's released scripts: ASE Langevin (friction 5e-3 ASE units ≈ 0.49/ps), 1 fs, "
                           "1000 steps, the first 10 test frames, velocities as the frame carries them (normally zero)"),
    MDProtocol(name="fu-md17", ensemble="nose-hoover", timestep_fs=0.5, steps=600_000, dump_every=100, check_every=100,
               thermostat_steps=20, description="Fu et al. MD17: Nosé–Hoover (ttime 20 timesteps), 500 K, 0.5 fs, 300 ps"),
    MDProtocol(name="fu-water", ensemble="nose-hoover", timestep_fs=1.0, steps=500_000, dump_every=100, check_every=100,
               thermostat_steps=20, description="Fu et al. water: Nosé–Hoover (ttime 20 timesteps), 300 K, 1 fs, 500 ps"),
    MDProtocol(name="fu-lips", ensemble="nose-hoover", timestep_fs=0.25, steps=200_000, dump_every=50, check_every=50,
               thermostat_steps=20, description="Fu et al. LiPS: Nosé–Hoover (ttime 20 timesteps), 520 K, 0.25 fs, 50 ps"),
    MDProtocol(name="nve", ensemble="nve", timestep_fs=1.0, steps=1000, dump_every=10, check_every=10,
               description="velocity Verlet from Maxwell–Boltzmann velocities at the plan temperature (cross-checks)"),
    MDProtocol(name="npt", ensemble="npt", timestep_fs=0.5, steps=10_000, dump_every=100, check_every=100,
               thermostat_steps=200, barostat_steps=2000,
               description="Nosé–Hoover NPT (isotropic, 1 atm); LAMMPS only: it uses the virial"),
)}


def get_protocol(name: str) -> MDProtocol:
    if name not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {name!r}{suggest(name, PROTOCOLS)}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
