"""The schema of ``egraff learn config.yaml [key=value ...]``, read by :mod:`egraff.config`.

::

    data:                      # frame sources (egraff.data.frames): the labelled frames the loop starts from
      train: {file: start.extxyz, fold: train}
      val: {file: start.extxyz, fold: val}
      test: {file: reference.extxyz}          # held out: the errors of every iteration's model 0
    training: {model: {architecture: nequip, r_max: 4.5}, train: {max_epochs: 20}}   # egraff.train sections
    retrain: {train: {max_epochs: 5}}         # changes of `training` from iteration 1 on (warm-started)
    committee: {size: 4}
    explore:                   # an egraff.md plan without models: systems x frames x temperatures x seeds
      systems: [{name: water, file: water.data, type_names: [O, H]}]
      temperatures: [300, 400]
      protocol: fu-water
      overrides: {steps: 4000, timestep_fs: 0.5, dump_every: 20}
    trust: {lo: 0.1, hi: 0.4, halt: 1.0}     # eV/Å, on the committee's largest atomic force deviation
    select: {max_frames: 20, max_force: 10.0}
    convergence: {fraction_above_lo: 0.05, max_iterations: 6}
    reference: {teacher: water-spcfw, options: {coulomb: dsf}}

Relative file paths are taken relative to the config file. Every key is declared once below.
"""

from __future__ import annotations

import importlib
import shlex
from pathlib import Path
from typing import Annotated, Any, Mapping

from pydantic import Field, ValidationInfo, field_validator, model_validator

from egraff.config import ConfigError, ConfigModel, load_config, merge, suggest, validate
from egraff.data.frames import FrameSource
from egraff.md.plan import WatchdogLimits
from egraff.md.protocols import get_protocol
from egraff.md.systems import SystemSource
from egraff.train.config import TrainConfig

#: placeholders of an external reference command: the frame to label, the labelled frame to write
COMMAND_FIELDS = ("{input}", "{output}")


def _sources(value):
    return [value] if isinstance(value, Mapping) else value


class DataSection(ConfigModel):
    train: list[FrameSource] = Field(min_length=1)  # labelled frames the committee first trains on
    val: list[FrameSource] = Field(min_length=1)  # validation frames of every iteration's training
    test: list[FrameSource] = []  # held-out reference frames: every iteration's errors (none: no errors reported)

    _one_source_is_a_list = field_validator("train", "val", "test", mode="before")(_sources)


class CommitteeSection(ConfigModel):
    size: int = Field(4, ge=2)  # models per iteration, trained with seeds training.train.seed + 0, 1, ...
    every: int | None = Field(None, ge=1)  # steps between deviation evaluations; None: the protocol's dump_every
    warm_start: bool = True  # iteration i+1's model k starts from iteration i's model k


class ExploreSection(ConfigModel):
    systems: list[SystemSource] = Field(min_length=1)
    temperatures: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)  # K
    seeds: list[int] = Field([0], min_length=1)  # MD seeds (initial velocities, thermostats)
    protocol: str  # a name of egraff.md.PROTOCOLS (`egraff md protocols`)
    overrides: dict[str, Any] = {}  # its settings, e.g. {steps: 4000, dump_every: 20}
    frames: list[int] = [0]  # the frames of each system the explorations start from
    watchdog: WatchdogLimits = WatchdogLimits()

    @model_validator(mode="after")
    def _protocol_runs(self):
        get_protocol(self.protocol).with_overrides(("explore", "overrides"), **self.overrides)
        return self

    def protocol_settings(self):
        return get_protocol(self.protocol).with_overrides(("explore", "overrides"), **self.overrides)


class TrustSection(ConfigModel):
    """DP-GEN's trust levels on the largest atomic force deviation of a frame, max_i σ_F,i (eV/Å):
    below ``lo`` the committee agrees (accurate), in [lo, hi) a frame is a candidate for labelling, at or
    above ``hi`` the models are lost (failed: never labelled)."""

    lo: float = Field(gt=0)
    hi: float = Field(gt=0)
    halt: float | None = Field(None, gt=0)  # an exploration stops when its deviation passes this (fix halt)

    @model_validator(mode="after")
    def _window(self):
        if self.lo >= self.hi:
            raise ConfigError(f"{{key}}.lo = {self.lo:g} is not below {{key}}.hi = {self.hi:g}: the trust window "
                              "[lo, hi) holds no deviation; give lo < hi (e.g. lo: 0.1, hi: 0.4 eV/Å)")
        if self.halt is not None and self.halt < self.hi:
            raise ConfigError(f"{{key}}.halt = {self.halt:g} is below {{key}}.hi = {self.hi:g}: explorations would stop "
                              "before their frames leave the trust window; give halt >= hi, or null for no halt")
        return self


class SelectSection(ConfigModel):
    max_frames: int = Field(20, ge=1)  # candidates labelled per iteration at most, spread over the explorations' time
    # a labelled frame whose largest reference force (eV/Å) exceeds this is kept out of the training data (and
    # counted in the iteration's report): a committee of few models can agree on a frame far outside the data
    # (a broken molecule, atoms about to collide), where a classical teacher's label is itself meaningless and
    # one such frame dominates a squared-error loss. None: every labelled frame is added
    max_force: float | None = Field(None, gt=0)


class ConvergenceSection(ConfigModel):
    # done when every exploration ran its full length and at most this fraction of its frames reached trust.lo
    fraction_above_lo: float = Field(0.05, ge=0, lt=1)
    max_iterations: int = Field(5, ge=1)


class ReferenceSection(ConfigModel):
    """What labels the selected frames: exactly one of

    - ``teacher``: an egraff teacher potential in LAMMPS (``water-spcfw``, ``silicon-sw``, ``copper-eam``);
    - ``calculator``: ``module:callable`` returning an ASE calculator;
    - ``command``: a program that reads ``{input}`` (extxyz, one frame) and writes ``{output}`` (the
      frame with energy and forces, extxyz), run in the label job's directory (the way a DFT code on a
      cluster is driven);

    ``options`` are keyword arguments of the teacher or the callable."""

    teacher: str | None = None
    calculator: str | None = None
    command: str | list[str] | None = None
    options: dict[str, Any] = {}

    @model_validator(mode="after")
    def _one_reference(self):
        from egraff.data.teacher import TEACHERS

        given = [key for key in ("teacher", "calculator", "command") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ConfigError("{key} takes exactly one of `teacher` (an egraff teacher potential), `calculator` "
                              f"(module:callable giving an ASE calculator) or `command`, not {' and '.join(given) or 'none'}")
        if self.teacher is not None:
            if self.teacher not in TEACHERS:
                raise ConfigError(f"{{key}}.teacher = {self.teacher!r}{suggest(self.teacher, TEACHERS)}: choose one of "
                                  f"{', '.join(TEACHERS)}")
            try:
                TEACHERS[self.teacher](**self.options)
            except (TypeError, ValueError) as err:
                raise ConfigError(f"{{key}}.options do not fit teacher {self.teacher}: {err}") from None
        if self.calculator is not None:
            self.factory()
        if self.command is not None:
            words = self.argv()
            missing = [field for field in COMMAND_FIELDS if not any(field in word for word in words)]
            if missing:
                raise ConfigError(f"{{key}}.command = {self.command!r} has no {missing[0]}: the program reads the frame "
                                  "from {input} and writes the labelled frame to {output} (extxyz)")
            if self.options:
                raise ConfigError("{key}.options apply to a teacher or a calculator; a command takes its settings "
                                  "on its command line")
        return self

    def factory(self):
        """The callable that ``calculator`` names."""
        module_name, _, name = (self.calculator or "").partition(":")
        if not module_name or not name:
            raise ConfigError(f"{{key}}.calculator = {self.calculator!r}: write module:callable, e.g. "
                              "ase.calculators.emt:EMT")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ConfigError(f"{{key}}.calculator = {self.calculator!r}: module {module_name} cannot be imported "
                              f"({err}); install it or put it on PYTHONPATH") from None
        factory = getattr(module, name, None)
        if not callable(factory):
            raise ConfigError(f"{{key}}.calculator = {self.calculator!r}: {module_name} has no callable {name!r}"
                              f"{suggest(name, dir(module))}")
        return factory

    def argv(self) -> list[str]:
        return shlex.split(self.command) if isinstance(self.command, str) else list(self.command)

    def describe(self) -> str:
        if self.teacher is not None:
            return f"teacher {self.teacher}"
        return f"calculator {self.calculator}" if self.calculator is not None else f"command `{shlex.join(self.argv())}`"


def _section():
    return Field(default_factory=dict, validate_default=True)


class LearnConfig(ConfigModel):
    data: DataSection
    training: TrainConfig = _section()  # egraff.train sections (model, loss, optim, stage_two, train)
    retrain: dict[str, Any] = {}  # changes of `training` from iteration 1 on, e.g. {train: {max_epochs: 5}}
    committee: CommitteeSection = _section()
    explore: ExploreSection
    trust: TrustSection
    select: SelectSection = _section()
    convergence: ConvergenceSection = _section()
    reference: ReferenceSection

    @field_validator("training", mode="before")
    @classmethod
    def _frames_come_from_the_loop(cls, value):
        for key in ("data", "output"):
            if isinstance(value, Mapping) and key in value:
                raise ConfigError("{key} is not used: the loop trains on data.train plus the frames it "
                                  "labels, in its own directories; remove it", (key,))
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo):
        base = (info.context or {}).get("base")
        if base is not None:  # paths in a config file are relative to the file
            for section in (self.data.train, self.data.val, self.data.test, self.explore.systems):
                for k, source in enumerate(section):
                    section[k] = source.model_copy(update={
                        key: _resolve(getattr(source, key), base) for key in ("file", "teacher", "bond_reference")
                        if getattr(source, key, None) is not None})
        for key in ("model", "data", "output"):
            if key in self.retrain:
                raise ConfigError("{key} cannot change between iterations: the committee keeps its network "
                                  "and the loop its data; set it in training", ("retrain", key))
        validate(TrainConfig, merge(self.training.model_dump(), self.retrain), prefix=("retrain",),
                 context={"frames_given": True})
        protocol = self.explore.protocol_settings()
        if protocol.dump_every % self.deviation_every:
            raise ConfigError(f"committee.every = {self.deviation_every} does not divide the exploration's dump_every "
                              f"= {protocol.dump_every}: the dumped frames need their deviation; give a divisor")
        return self

    @property
    def deviation_every(self) -> int:
        return self.committee.every or self.explore.protocol_settings().dump_every

    def training_config(self, iteration: int, member: int) -> dict:
        """The egraff.train sections of committee member ``member`` in ``iteration`` (without data and output)."""
        config = self.training.model_dump()
        if iteration > 0:
            config = merge(config, self.retrain)
        config["train"]["seed"] = int(config["train"]["seed"]) + member
        return {key: value for key, value in config.items() if key not in ("data", "output")}


def _resolve(path: str, base: Path) -> str:
    return str(Path(path) if Path(path).is_absolute() else Path(base) / path)


def load_learn_config(path: str | Path | None, overrides=()) -> LearnConfig:
    """The config file (if any) with ``key=value`` overrides, checked; every problem is a
    :class:`egraff.config.ConfigError` sentence."""
    base = Path(path).resolve().parent if path is not None else None
    return load_config(LearnConfig, path, overrides, context={"frames_given": True, "base": base})
