"""Simulation specs and plans.

A :class:`SimulationSpec` is everything one simulation depends on; :func:`egraff.md.run_simulation`
is a pure function of it. Its output directory is named by :meth:`SimulationSpec.key`, a sha256 over
the physics (model file sha256, structure sha256 and frame, protocol settings, temperature, seed,
engine, watchdog limits), not over paths or resources: moving a model file or running on more MPI
ranks does not make a finished simulation look new.

A :class:`Plan` is the product models × systems × initial frames × temperatures × seeds;
:meth:`Plan.specs` checks everything (files, elements, temperatures, protocol) before anything runs
and raises :class:`PlanError` with one sentence saying what to fix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from egraff.files import file_sha256
from egraff.md.protocols import Protocol, get_protocol
from egraff.md.systems import StructureError, SystemSource, is_molecule

ENGINES = ("lammps", "ase")
SPEC_VERSION = 1


class PlanError(ValueError):
    """A plan that cannot run, with a sentence saying what to fix."""


@dataclass(frozen=True)
class WatchdogLimits:
    """When the watchdog stops a run (besides NaN energies and lost atoms, which always stop it)."""

    max_temperature_factor: float = 5.0  # T above this × the plan temperature is an explosion
    max_energy_rise_per_atom: float = 1.0  # eV/atom of potential energy above the initial value
    bond_deviation: float = 0.5  # Å, Fu et al.'s bond-length criterion (molecules)
    bond_check: bool | None = None  # None: on for molecules (non-periodic systems), off otherwise


@dataclass(frozen=True)
class SimulationSpec:
    model: str
    model_sha256: str
    system: SystemSource
    system_sha256: str
    frame: int
    protocol: Protocol
    temperature: float
    seed: int
    engine: str = "lammps"
    watchdog: WatchdogLimits = field(default_factory=WatchdogLimits)
    ranks: int = 1  # MPI ranks (LAMMPS engine); a resource, not part of the key

    def key(self) -> str:
        """Content hash naming the output directory (16 hex digits of a sha256)."""
        payload = {
            "version": SPEC_VERSION, "model_sha256": self.model_sha256, "system_sha256": self.system_sha256,
            "frame": self.frame, "type_names": self.system.type_names, "protocol": self.protocol.as_dict(),
            "temperature": float(self.temperature), "seed": int(self.seed), "engine": self.engine,
            "watchdog": asdict(self.watchdog),
            "bond_reference": file_sha256(self.system.bond_reference) if self.system.bond_reference else None,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SimulationSpec":
        return cls(**{**d, "system": SystemSource(**d["system"]), "protocol": Protocol(**d["protocol"]),
                      "watchdog": WatchdogLimits(**d["watchdog"])})

    def label(self) -> str:
        return (f"{Path(self.model).stem} · {self.system.name}[{self.frame}] · {self.protocol.name} · "
                f"{self.temperature:g} K · seed {self.seed} · {self.engine}")


@dataclass
class Plan:
    models: Sequence[str]
    systems: Sequence[SystemSource]
    temperatures: Sequence[float]
    seeds: Sequence[int] = (0,)
    protocol: str = "nve"
    overrides: dict = field(default_factory=dict)  # protocol settings, e.g. {"steps": 200}
    frames: Sequence[int] | None = None  # None: the protocol's first `initial_frames` frames
    engine: str = "lammps"
    ranks: int = 1
    watchdog: dict = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path) -> "Plan":
        """A plan from TOML or JSON: top-level keys as the fields, ``[[systems]]`` tables as SystemSource,
        relative paths taken relative to the plan file."""
        path = Path(path)
        if not path.is_file():
            raise PlanError(f"plan file {path} does not exist")
        try:
            if path.suffix == ".json":
                raw = json.loads(path.read_text())
            else:
                import tomllib

                raw = tomllib.loads(path.read_text())
        except Exception as err:
            raise PlanError(f"{path} is not a valid {'JSON' if path.suffix == '.json' else 'TOML'} plan ({err})") from None
        return cls.from_dict(raw, base=path.parent)

    @classmethod
    def from_dict(cls, raw: dict, base: Path = Path(".")) -> "Plan":
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise PlanError(f"unknown plan key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        missing = [k for k in ("models", "systems", "temperatures") if k not in raw]
        if missing:
            raise PlanError(f"the plan needs {', '.join(missing)}")

        def resolve(p):
            return str(Path(p) if Path(p).is_absolute() else base / p)

        systems = []
        for entry in raw["systems"]:
            entry = dict(entry)
            for key in ("path", "bond_reference"):
                if key in entry:
                    entry[key] = resolve(entry[key])
            try:
                systems.append(SystemSource(**entry))
            except TypeError as err:
                raise PlanError(f"system entry {entry}: {err}") from None
            except StructureError as err:
                raise PlanError(str(err)) from None
        return cls(**{**raw, "models": [resolve(m) for m in raw["models"]], "systems": systems})

    def specs(self) -> list[SimulationSpec]:
        """Every simulation of the plan, after checking that all of them can run."""
        try:
            protocol = get_protocol(self.protocol).with_overrides(**self.overrides)
        except (ValueError, TypeError) as err:
            raise PlanError(str(err)) from None
        if self.engine not in ENGINES:
            raise PlanError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.engine == "ase" and self.ranks != 1:
            raise PlanError("MPI ranks apply to the LAMMPS engine only; set ranks = 1 for engine ase")
        if self.engine == "ase" and protocol.ensemble == "npt":
            raise PlanError(f"protocol {protocol.name} (NPT) runs in LAMMPS only; use engine lammps")
        if not isinstance(self.ranks, int) or self.ranks < 1:
            raise PlanError(f"ranks must be a positive integer, got {self.ranks!r}")
        for t in self.temperatures:
            if not float(t) > 0:
                raise PlanError(f"temperature {t} K is not > 0; give temperatures in kelvin above zero")
        if not self.models or not self.systems or not self.temperatures or not self.seeds:
            raise PlanError("the plan needs at least one model, system, temperature and seed")
        try:
            limits = WatchdogLimits(**self.watchdog)
        except TypeError as err:
            raise PlanError(f"watchdog: {err}") from None

        models = {m: _model_elements(m) for m in self.models}
        systems = []
        for system in self.systems:
            try:
                frames = system.frames()
            except StructureError as err:
                raise PlanError(str(err)) from None
            chosen = list(self.frames) if self.frames is not None else list(range(min(protocol.initial_frames, len(frames))))
            bad = [f for f in chosen if not -len(frames) <= f < len(frames)]
            if bad:
                raise PlanError(f"system {system.name!r} has {len(frames)} frame(s); frame {bad[0]} does not exist")
            elements = set()
            for f in chosen:
                elements |= set(frames[f].get_chemical_symbols())
                try:
                    molecule = is_molecule(frames[f])
                except StructureError as err:
                    raise PlanError(f"system {system.name!r}: {err}") from None
                if molecule and protocol.ensemble == "npt":
                    raise PlanError(f"system {system.name!r} is not periodic; NPT needs a periodic cell")
            if system.bond_reference and not Path(system.bond_reference).is_file():
                raise PlanError(f"system {system.name!r}: bond reference {system.bond_reference} does not exist")
            for model, known in models.items():
                missing = sorted(elements - set(known))
                if missing:
                    raise PlanError(f"model {model} knows elements {' '.join(known)} but system {system.name!r} "
                                    f"contains {' '.join(missing)}; use a model trained on this system's elements")
            systems.append((system, system.fingerprint(frames), [f % len(frames) for f in chosen]))

        model_hashes = {m: file_sha256(m) for m in self.models}
        return [SimulationSpec(model=str(Path(m).resolve()), model_sha256=model_hashes[m], system=system,
                               system_sha256=fingerprint, frame=frame, protocol=protocol, temperature=float(t),
                               seed=int(seed), engine=self.engine, watchdog=limits, ranks=self.ranks)
                for m in self.models for system, fingerprint, frames in systems for frame in frames
                for t in self.temperatures for seed in self.seeds]


def _model_elements(path: str) -> tuple[str, ...]:
    from egraff.deploy import DeployedModelError, load_deployed

    if not Path(path).is_file():
        raise PlanError(f"model file {path} does not exist; export one with `egraff export` first")
    try:
        _, metadata = load_deployed(path)
    except DeployedModelError as err:
        raise PlanError(f"model {path}: {err}") from None
    return tuple(metadata.type_names)


def single_spec(model, system: SystemSource, temperature: float, *, protocol: str = "nve", seed: int = 0,
                frame: int = 0, engine: str = "lammps", ranks: int = 1, watchdog: dict | None = None,
                **overrides) -> SimulationSpec:
    """One checked spec (what the benchmark engine builds per task); ``overrides`` change protocol settings."""
    plan = Plan(models=[str(model)], systems=[system], temperatures=[temperature], seeds=[seed], protocol=protocol,
                overrides=overrides, frames=[frame], engine=engine, ranks=ranks, watchdog=watchdog or {})
    (spec,) = plan.specs()
    return spec
