"""Simulation specs and plans.

A :class:`SimulationSpec` is everything one simulation depends on; :func:`egraff.md.simulate` is a
pure function of it. Its job (:func:`egraff.md.simulation_job`) is named by :meth:`SimulationSpec.identity`,
the physics (model file sha256, structure sha256 and frame, protocol settings, temperature, seed,
engine, watchdog limits), not paths or resources: moving a model file or running on more MPI ranks
does not make a finished simulation look new.

A :class:`SimulationPlan` is the product models × systems × initial frames × temperatures × seeds,
read from TOML, JSON or YAML (:meth:`SimulationPlan.from_file`, with ``key=value`` overrides) by
:mod:`egraff.config`; :meth:`SimulationPlan.specs` checks everything (files, elements, temperatures,
protocol) before anything runs and raises :class:`egraff.config.ConfigError` with one sentence
saying what to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, model_validator

from egraff.config import ConfigError, ConfigModel, load_config, validate
from egraff.files import file_sha256
from egraff.md.protocols import MDProtocol, get_protocol
from egraff.md.systems import StructureError, SystemSource, is_molecule

ENGINES = ("lammps", "ase")
SPEC_VERSION = 1


class WatchdogLimits(ConfigModel):
    """When the watchdog stops a run (besides NaN energies and lost atoms, which always stop it)."""

    model_config = ConfigDict(frozen=True)

    max_temperature_factor: float = Field(5.0, gt=1)  # T above this × the plan temperature is an explosion
    max_energy_rise_per_atom: float = Field(1.0, gt=0)  # eV/atom of potential energy above the initial value
    bond_deviation: float = Field(0.5, gt=0)  # Å, Fu et al.'s bond-length criterion (molecules)
    bond_check: bool | None = None  # None: on for molecules (non-periodic systems), off otherwise


class Committee(ConfigModel):
    """Further deployed files watching the run (``pair_style egraff committee``, LAMMPS engine): their force
    deviation from the model is written to ``model_devi.out`` (DeePMD-kit's columns) every ``every`` steps,
    and a run whose largest atomic force deviation passes ``max_force_deviation`` stops there (``fix halt``)."""

    model_config = ConfigDict(frozen=True)

    members: list[str] = Field(min_length=1)  # deployed files beside the model (the committee's member 0)
    every: int = Field(1, ge=1)  # steps between deviation evaluations
    max_force_deviation: float | None = Field(None, gt=0)  # eV/Å; None: the deviation never stops the run


class SimulationSpec(ConfigModel):
    model_config = ConfigDict(frozen=True)

    model: str
    model_sha256: str
    committee: Committee | None = None
    committee_sha256: list[str] = []
    system: SystemSource
    system_sha256: str
    frame: int
    protocol: MDProtocol
    temperature: float
    seed: int
    engine: Literal[ENGINES] = "lammps"
    watchdog: WatchdogLimits = WatchdogLimits()
    ranks: int = 1  # MPI ranks (LAMMPS engine); a resource, not part of the identity

    def identity(self) -> dict:
        """What the simulation's result depends on (its job key hashes this)."""
        committee = {} if self.committee is None else {"committee": {
            "members_sha256": self.committee_sha256, "every": self.committee.every,
            "max_force_deviation": self.committee.max_force_deviation}}
        return {
            "version": SPEC_VERSION, "model_sha256": self.model_sha256, **committee, "system_sha256": self.system_sha256,
            "cuts": self.system.cuts(), "frame": self.frame, "type_names": self.system.type_names,
            "protocol": self.protocol.as_dict(), "temperature": float(self.temperature), "seed": int(self.seed),
            "engine": self.engine, "watchdog": self.watchdog.model_dump(),
            "bond_reference": file_sha256(self.system.bond_reference) if self.system.bond_reference else None,
        }

    def to_dict(self) -> dict:
        return self.model_dump()

    @classmethod
    def from_dict(cls, d: dict) -> "SimulationSpec":
        return cls.model_validate(d)

    def label(self) -> str:
        return (f"{Path(self.model).stem} · {self.system.name}[{self.frame}] · {self.protocol.name} · "
                f"{self.temperature:g} K · seed {self.seed} · {self.engine}")


class SimulationPlan(ConfigModel):
    models: list[str] = Field(min_length=1)  # deployed model files
    committee: Committee | None = None  # further files watching each run (LAMMPS engine)
    systems: list[SystemSource] = Field(min_length=1)
    temperatures: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)  # K
    seeds: list[int] = Field([0], min_length=1)
    protocol: str = "nve"  # a name of egraff.md.PROTOCOLS
    overrides: dict[str, Any] = {}  # protocol settings, e.g. {"steps": 200}
    frames: list[int] | None = None  # None: the protocol's first `initial_frames` frames
    engine: Literal[ENGINES] = "lammps"
    ranks: int = Field(1, ge=1)
    watchdog: WatchdogLimits = WatchdogLimits()

    @model_validator(mode="after")
    def _protocol_and_engine_fit(self, info: ValidationInfo):
        base = (info.context or {}).get("base")
        if base is not None:  # paths in a plan file are relative to the file
            self.models = [_resolve(m, base) for m in self.models]
            if self.committee is not None:
                self.committee = self.committee.model_copy(
                    update={"members": [_resolve(m, base) for m in self.committee.members]})
            self.systems = [s.model_copy(update={key: _resolve(getattr(s, key), base)
                                                 for key in ("file", "bond_reference") if getattr(s, key) is not None})
                            for s in self.systems]
        protocol = get_protocol(self.protocol).with_overrides(**self.overrides)
        if self.engine == "ase" and self.ranks != 1:
            raise ConfigError("MPI ranks apply to the LAMMPS engine only; set ranks = 1 for engine ase")
        if self.engine == "ase" and self.committee is not None:
            raise ConfigError("a committee watches LAMMPS runs only (pair_style egraff committee); use engine lammps")
        if self.engine == "ase" and protocol.ensemble == "npt":
            raise ConfigError(f"protocol {protocol.name} (NPT) runs in LAMMPS only; use engine lammps")
        return self

    @classmethod
    def from_file(cls, path: str | Path, overrides=()) -> "SimulationPlan":
        """A plan from TOML, JSON or YAML, then ``key=value`` overrides; ``[[systems]]`` tables are systems,
        relative paths are taken relative to the plan file."""
        return load_config(cls, path, overrides, context={"base": Path(path).parent})

    def specs(self) -> list[SimulationSpec]:
        """Every simulation of the plan, after checking that all of them can run."""
        protocol = get_protocol(self.protocol).with_overrides(**self.overrides)
        models = {m: _model_elements(m) for m in self.models}
        members = self.committee.members if self.committee is not None else []
        for member, elements in ((m, _model_elements(m)) for m in members):
            for model, known in models.items():
                if elements != known:
                    raise ConfigError(f"committee member {member} is for the elements {' '.join(elements)} but model "
                                      f"{model} is for {' '.join(known)}; every member must have the model's "
                                      "type_names in the same order")
        systems = []
        for index, system in enumerate(self.systems):
            try:
                frames = system.frames()
            except StructureError as err:
                raise ConfigError(str(err)) from None
            chosen = list(self.frames) if self.frames is not None else list(range(min(protocol.initial_frames, len(frames))))
            bad = [f for f in chosen if not -len(frames) <= f < len(frames)]
            if bad:
                raise ConfigError(f"system {system.name!r} has {len(frames)} frame(s); frame {bad[0]} does not exist")
            elements = set()
            for f in chosen:
                elements |= set(frames[f].get_chemical_symbols())
                try:
                    molecule = is_molecule(frames[f])
                except StructureError as err:
                    raise ConfigError(f"system {system.name!r}: {err}") from None
                if molecule and protocol.ensemble == "npt":
                    raise ConfigError(f"system {system.name!r} is not periodic; NPT needs a periodic cell")
            if system.bond_reference and not Path(system.bond_reference).is_file():
                raise ConfigError(f"system {system.name!r}: bond reference {system.bond_reference} does not exist")
            for model, known in models.items():
                missing = sorted(elements - set(known))
                if missing:
                    raise ConfigError(f"model {model} knows elements {' '.join(known)} but system {system.name!r} "
                                      f"contains {' '.join(missing)}; use a model trained on this system's elements")
            systems.append((system, system.fingerprint(frames), [f % len(frames) for f in chosen]))

        model_hashes = {m: file_sha256(m) for m in self.models}
        committee = None if self.committee is None else self.committee.model_copy(
            update={"members": [str(Path(m).resolve()) for m in members]})
        return [SimulationSpec(model=str(Path(m).resolve()), model_sha256=model_hashes[m], committee=committee,
                               committee_sha256=[file_sha256(m) for m in members], system=system,
                               system_sha256=fingerprint, frame=frame, protocol=protocol, temperature=float(t),
                               seed=int(seed), engine=self.engine, watchdog=self.watchdog, ranks=self.ranks)
                for m in self.models for system, fingerprint, frames in systems for frame in frames
                for t in self.temperatures for seed in self.seeds]


def _resolve(path: str, base: Path) -> str:
    return str(Path(path) if Path(path).is_absolute() else Path(base) / path)


def _model_elements(path: str) -> tuple[str, ...]:
    from egraff.deploy import DeployedModelError, load_deployed

    if not Path(path).is_file():
        raise ConfigError(f"model file {path} does not exist; export one with `egraff export` first")
    try:
        _, metadata = load_deployed(path)
    except DeployedModelError as err:
        raise ConfigError(f"model {path}: {err}") from None
    return tuple(metadata.type_names)


def single_spec(model, system: SystemSource, temperature: float, *, protocol: str = "nve", seed: int = 0,
                frame: int = 0, engine: str = "lammps", ranks: int = 1, watchdog: dict | None = None,
                committee: dict | None = None, **overrides) -> SimulationSpec:
    """One checked spec (what the benchmark builds per task); ``overrides`` change protocol settings,
    ``committee`` is a :class:`Committee` as a dict."""
    plan = validate(SimulationPlan, dict(models=[str(model)], systems=[system], temperatures=[temperature],
                                         seeds=[seed], protocol=protocol, overrides=overrides, frames=[frame],
                                         engine=engine, ranks=ranks, watchdog=watchdog or {}, committee=committee))
    (spec,) = plan.specs()
    return spec
