"""Benchmark plans: the schema of a plan file, its loading (with ``key=value`` overrides) and its checks.

A plan (see ``plans/smoke.yaml`` and ``plans/paper.yaml``) names

- ``models``: architectures, each with ``preset`` (tiny | paper), ``hyperparameters`` and a ``config``
  of egraff.train sections that override the plan-wide ``training`` sections;
- ``data``: frames per case (``n_train``, ``n_val``, ``n_test``; null = all);
- ``teachers``: classical-teacher systems to generate (``silicon``, ``copper``, ``water``) with
  their ``options`` and ``protocol`` (egraff.data.generate);
- ``tasks``: a list of cases, each ``{task: ..., ...}`` (:mod:`egraff.benchmark.tasks`);
- ``md``: an egraff.md protocol name and ``overrides`` of its settings; ``seeds``: training and MD seeds.

:func:`load_plan` checks everything — keys and their types, names, task/dataset combinations, splits,
elements, teacher phases and temperatures, training configs — and raises
:class:`egraff.config.ConfigError` with one sentence before any job starts.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from egraff.benchmark.tasks import TASKS, TEACHER_SYSTEMS, Case, build_case
from egraff.config import ConfigError, ConfigModel, check_like, load_config, merge, suggest, validate

PLANS = Path(__file__).parent / "plans"
PRESETS = ("smoke", "paper")


class ModelEntry(ConfigModel):
    preset: Literal["tiny", "paper"] = "tiny"
    hyperparameters: dict[str, Any] = {}
    config: dict[str, Any] = {}  # egraff.train sections (optim, loss, train, ...) for this model


class DataSizes(ConfigModel):
    n_train: int | None = Field(None, ge=1)  # frames per case; None = all
    n_val: int | None = Field(None, ge=1)
    n_test: int | None = Field(None, ge=1)


class TeacherEntry(ConfigModel):
    options: dict[str, Any] = {}  # keyword arguments of egraff.data.generate.<system>
    protocol: dict[str, Any] = {}  # settings of egraff.data.generate.Protocol


class TaskEntry(ConfigModel):
    task: Literal[TASKS]
    dataset: str | None = None  # a registry name or teacher:<system>
    held_out: str | list[str] | None = None  # unseen_molecules: an MD17 molecule; unseen_structures: phases or
    #                                          LiPS20 compositions
    phase: str | None = None  # teacher cases: the phase trained and tested on
    train_temperatures: list[float] | None = None  # higher_temperature with a teacher (K)
    test_temperatures: list[float] | None = None
    train_compositions: list[str] | None = None  # unseen_structures on lips20: default all but held_out


class MDSection(ConfigModel):
    protocol: str = "egraffbench"  # a name of egraff.md.PROTOCOLS
    overrides: dict[str, Any] = {}  # its settings, e.g. {steps: 200}


class BenchmarkPlan(ConfigModel):
    name: str = "plan"
    description: str = ""
    models: dict[str, ModelEntry] = Field(min_length=1)
    training: dict[str, Any] = {}  # egraff.train sections for every model
    data: DataSizes = DataSizes()
    teachers: dict[str, TeacherEntry] = {}
    tasks: list[TaskEntry] = Field(min_length=1)
    md: MDSection = MDSection()
    seeds: list[int] = Field([0], min_length=1)

    _cases: list[Case] = PrivateAttr(default_factory=list)
    _training_configs: dict[str, dict] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _everything_can_run(self):
        from egraff.md import get_protocol
        from egraff.models import ARCHITECTURES

        for name in self.models:
            if name not in ARCHITECTURES:
                raise ConfigError(f"unknown model {name!r}{suggest(name, ARCHITECTURES)}; choose from "
                                  f"{', '.join(ARCHITECTURES)}", ("models",))
        for system, entry in self.teachers.items():
            _check_teacher(system, entry)
        self._training_configs = {name: _training_config(name, entry, self.training)
                                  for name, entry in self.models.items()}
        cases = []
        for index, entry in enumerate(self.tasks):
            try:
                cases.append(build_case(entry, self.teachers, self.data))
            except ConfigError as err:
                raise ConfigError(err.message, ("tasks", index)) from None
        names = [c.name for c in cases]
        repeated = next((n for n in names if names.count(n) > 1), None)
        if repeated:
            raise ConfigError(f"case {repeated!r} appears twice in `tasks`")
        get_protocol(self.md.protocol).with_overrides(("md", "overrides"), **self.md.overrides)
        self._cases = cases
        return self

    @property
    def cases(self) -> list[Case]:
        return self._cases

    @property
    def training_configs(self) -> dict[str, dict]:
        """Per model: the egraff.train sections set by the plan (the rest take egraff.train's defaults)."""
        return self._training_configs

    def registry_datasets(self) -> list[str]:
        """The registry datasets the plan reads."""
        names = []
        for case in self.cases:
            for source in case.train + case.val + case.test:
                if "dataset" in source and source["dataset"] not in names:
                    names.append(source["dataset"])
        return names


def _check_teacher(system: str, entry: TeacherEntry) -> None:
    from egraff.data import generate

    if system not in TEACHER_SYSTEMS:
        raise ConfigError(f"unknown teacher system {system!r}{suggest(system, TEACHER_SYSTEMS)}; choose from "
                          f"{', '.join(TEACHER_SYSTEMS)}", ("teachers",))
    options = {name: p.default for name, p in inspect.signature(getattr(generate, system)).parameters.items()
               if p.kind is p.KEYWORD_ONLY and name not in ("protocol", "overwrite", "progress")}
    protocol = dataclasses.asdict(generate.DEFAULT_PROTOCOLS[system])
    for part, known, values in (("options", options, entry.options), ("protocol", protocol, entry.protocol)):
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"unknown key {{key}}{suggest(key, known)}; keys of {part}: {', '.join(known)}",
                                  ("teachers", system, part, key))
            check_like(known[key], value, ("teachers", system, part, key))


def _training_config(name: str, entry: ModelEntry, training: dict) -> dict:
    """The plan-wide ``training`` sections, then the model's ``config``, then its architecture, each checked
    against the egraff.train schema."""
    from egraff.train.config import ModelSection, TrainConfig

    model_section = {"architecture": name, "preset": entry.preset, "hyperparameters": entry.hyperparameters}
    validate(ModelSection, model_section, prefix=("models", name))
    validate(TrainConfig, training, prefix=("training",), context={"frames_given": True})
    sections = merge(merge(training, entry.config), {"model": model_section})
    validate(TrainConfig, sections, prefix=("models", name, "config"), context={"frames_given": True})
    return sections


def plan_path(preset_or_path: str) -> Path:
    if preset_or_path in PRESETS:
        return PLANS / f"{preset_or_path}.yaml"
    path = Path(preset_or_path)
    if not path.is_file():
        raise ConfigError(f"no plan {preset_or_path!r}: give a preset ({', '.join(PRESETS)}) or a YAML file that "
                          "exists")
    return path


def load_plan(preset_or_path: str, overrides=()) -> BenchmarkPlan:
    """A preset or a plan file, then ``key=value`` overrides (e.g. ``md.overrides.steps=200``), checked."""
    return load_config(BenchmarkPlan, plan_path(preset_or_path), overrides)


def check_plan(raw: dict) -> BenchmarkPlan:
    """A plan from its mapping, checked."""
    return validate(BenchmarkPlan, raw)
