"""Named MD protocols from the literature (notes/egraffbench.md §6, notes/analysis.md §6.1).

A protocol fixes the ensemble, the integrator's parameters, the length and what is saved; the
temperature, seed and initial structure come from the plan. Every number is in the protocol (and
therefore in the simulation's content hash), so two runs with the same name and different settings
can never share an output directory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ase import units

ENSEMBLES = ("nve", "langevin", "nose-hoover", "npt")
INITIAL_VELOCITIES = ("maxwell", "file", "zero")


@dataclass(frozen=True)
class Protocol:
    name: str
    ensemble: str  # one of ENSEMBLES
    timestep_fs: float
    steps: int
    dump_every: int  # trajectory frame interval (steps)
    check_every: int  # watchdog check and thermo CSV row interval (steps)
    initial_frames: int = 1  # how many frames of a multi-frame system file a plan starts from
    friction_per_ps: float = 0.0  # langevin
    thermostat_steps: float = 0.0  # nose-hoover / npt: thermostat time in timesteps
    barostat_steps: float = 0.0  # npt: barostat time in timesteps
    pressure_bar: float = 1.01325  # npt
    initial_velocities: str = "maxwell"  # maxwell at the plan temperature | file | zero
    description: str = ""

    def __post_init__(self):
        if self.ensemble not in ENSEMBLES:
            raise ValueError(f"protocol {self.name}: ensemble must be one of {', '.join(ENSEMBLES)}, got {self.ensemble!r}")
        if self.initial_velocities not in INITIAL_VELOCITIES:
            raise ValueError(f"protocol {self.name}: initial_velocities must be one of {', '.join(INITIAL_VELOCITIES)}, "
                             f"got {self.initial_velocities!r}")
        for field in ("timestep_fs", "steps", "dump_every", "check_every"):
            if not getattr(self, field) > 0:
                raise ValueError(f"protocol {self.name}: {field} must be > 0, got {getattr(self, field)}")
        if self.ensemble == "langevin" and not self.friction_per_ps > 0:
            raise ValueError(f"protocol {self.name}: a Langevin thermostat needs friction_per_ps > 0")
        if self.ensemble in ("nose-hoover", "npt") and not self.thermostat_steps > 0:
            raise ValueError(f"protocol {self.name}: a Nosé–Hoover thermostat needs thermostat_steps > 0")
        if self.ensemble == "npt" and not self.barostat_steps > 0:
            raise ValueError(f"protocol {self.name}: NPT needs barostat_steps > 0")

    @property
    def timestep_ps(self) -> float:
        return self.timestep_fs / 1000.0

    def as_dict(self) -> dict:
        return asdict(self)

    def with_overrides(self, **overrides) -> "Protocol":
        unknown = sorted(set(overrides) - set(asdict(self)))
        if unknown:
            raise ValueError(f"protocol {self.name} has no setting(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(asdict(self)))}")
        return replace(self, **overrides)


#: ASE's Langevin `friction=5e-3` (per ASE time unit, 10.18 fs) as EGraFFBench passes it, in 1/ps
_EGRAFFBENCH_FRICTION_PER_PS = 5e-3 * 1000.0 * units.fs

PROTOCOLS = {p.name: p for p in (
    Protocol("egraffbench", "langevin", timestep_fs=1.0, steps=1000, dump_every=1, check_every=10, initial_frames=10,
             friction_per_ps=_EGRAFFBENCH_FRICTION_PER_PS, initial_velocities="file",
             description="EGraFFBench's released scripts: ASE Langevin (friction 5e-3 ASE units ≈ 0.49/ps), 1 fs, "
                         "1000 steps, the first 10 test frames, velocities as the frame carries them (normally zero)"),
    Protocol("fu-md17", "nose-hoover", timestep_fs=0.5, steps=600_000, dump_every=100, check_every=100,
             thermostat_steps=20, description="Fu et al. MD17: Nosé–Hoover (ttime 20 timesteps), 500 K, 0.5 fs, 300 ps"),
    Protocol("fu-water", "nose-hoover", timestep_fs=1.0, steps=500_000, dump_every=100, check_every=100,
             thermostat_steps=20, description="Fu et al. water: Nosé–Hoover (ttime 20 timesteps), 300 K, 1 fs, 500 ps"),
    Protocol("fu-lips", "nose-hoover", timestep_fs=0.25, steps=200_000, dump_every=50, check_every=50,
             thermostat_steps=20, description="Fu et al. LiPS: Nosé–Hoover (ttime 20 timesteps), 520 K, 0.25 fs, 50 ps"),
    Protocol("nve", "nve", timestep_fs=1.0, steps=1000, dump_every=10, check_every=10,
             description="velocity Verlet from Maxwell–Boltzmann velocities at the plan temperature (cross-checks)"),
    Protocol("npt", "npt", timestep_fs=0.5, steps=10_000, dump_every=100, check_every=100, thermostat_steps=200,
             barostat_steps=2000, description="Nosé–Hoover NPT (isotropic, 1 atm); LAMMPS only: it uses the virial"),
)}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
