"""Benchmark plans: the schema of a plan file, its loading (with ``key=value`` overrides) and its checks.

A plan (see ``plans/smoke.yaml`` and ``plans/paper.yaml``) names

- ``models``: named models, each an ``architecture`` (default: its name) with ``preset`` (tiny | paper),
  ``hyperparameters``, a ``recipe`` (``plan``: the plan's own training protocol; ``study``: the study's
  recipe for each case's dataset, :mod:`egraff.benchmark.recipes`) and a ``config`` of egraff.train
  sections that override the recipe and the plan-wide ``training`` sections;
- ``torchmd_graph``: TorchMD-Net's graph — ``egraff`` (vector cutoff, continuous), ``study`` (as the study
  ran it: no vector cutoff, neighbour cap) or ``both``, side by side as ``torchmd-et`` and ``torchmd-et-study``;
- ``dataset_protocol``: ``egraff`` or ``study``, how registry datasets are split and simulated
  (:mod:`egraff.benchmark.tasks`);
- ``data``: frames per case (``n_train``, ``n_val``, ``n_test``; null = all);
- ``teachers``: classical-teacher systems to generate (``silicon``, ``copper``, ``water``) with
  their ``options`` and ``protocol`` (egraff.data.generate);
- ``tasks``: a list of cases, each ``{task: ..., ...}`` (:mod:`egraff.benchmark.tasks`);
- ``md``: an egraff.md protocol name and ``overrides`` of its settings (its ``initial_frames`` is the
  number of MD starts per reference group, the study's ``--init_conf_N``), ``start_every`` (frames between
  two starts; null: spread evenly over the reference) and ``violation_ps`` (length of the NVE run compared with a ground-truth trajectory);
  ``seeds``: training and MD seeds.

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

from egraff.benchmark.tasks import DATASET_PROTOCOLS, TASKS, TEACHER_SYSTEMS, Case, build_case
from egraff.config import ConfigError, ConfigModel, check_like, load_config, merge, suggest, validate

PLANS = Path(__file__).parent / "plans"
PRESETS = ("smoke", "cpu", "paper")
#: the name of TorchMD-Net as the study ran it, beside egraff's, with ``torchmd_graph: both``
TORCHMD_STUDY = "torchmd-et-study"


class ModelEntry(ConfigModel):
    architecture: str | None = None  # one of egraff.models.ARCHITECTURES; default: the entry's name
    preset: Literal["tiny", "paper"] = "tiny"
    hyperparameters: dict[str, Any] = {}
    recipe: Literal["plan", "study"] = "plan"  # study: egraff.models.recipes for each case's dataset
    config: dict[str, Any] = {}  # egraff.train sections (optim, loss, train, ...) for this model


@dataclasses.dataclass
class TrainingSetup:
    """What a model trains with on one case: egraff.train sections, a warm-up in optimiser steps (the study's
    TorchMD-Net recipe), where the settings come from and what of the study's recipe is not reproduced."""

    sections: dict
    warmup_steps: int
    origin: str
    deviations: list
    resolved: dict  # every egraff.train key, defaults included (what the report describes)


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
    overrides: dict[str, Any] = {}  # its settings, e.g. {steps: 200}; initial_frames = MD starts per reference
    start_every: int | None = Field(1, ge=1)  # reference frames between two starts (1: the first frames, as the
    #                                            study; None: spread evenly over the reference)
    violation_ps: float | None = Field(None, gt=0)  # NVE run against a ground-truth trajectory; None: as the run


class BenchmarkPlan(ConfigModel):
    name: str = "plan"
    description: str = ""
    models: dict[str, ModelEntry] = Field(min_length=1)
    torchmd_graph: Literal["egraff", "study", "both"] = "egraff"
    dataset_protocol: Literal[DATASET_PROTOCOLS] = "egraff"
    training: dict[str, Any] = {}  # egraff.train sections for every model
    data: DataSizes = DataSizes()
    teachers: dict[str, TeacherEntry] = {}
    tasks: list[TaskEntry] = Field(min_length=1)
    md: MDSection = MDSection()
    seeds: list[int] = Field([0], min_length=1)

    _cases: list[Case] = PrivateAttr(default_factory=list)
    _models: dict[str, ModelEntry] = PrivateAttr(default_factory=dict)
    _training: dict[tuple[str, str], TrainingSetup] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _everything_can_run(self):
        from egraff.md import get_protocol
        from egraff.models import ARCHITECTURES

        models = {}
        for name, entry in self.models.items():
            architecture = entry.architecture or name
            if architecture not in ARCHITECTURES:
                raise ConfigError(f"unknown model {architecture!r}{suggest(architecture, ARCHITECTURES)}; choose from "
                                  f"{', '.join(ARCHITECTURES)}", ("models",) + ((name,) if entry.architecture else ()))
            models[name] = entry.model_copy(update={"architecture": architecture})
        self._models = _torchmd_graphs(models, self.torchmd_graph)
        for system, entry in self.teachers.items():
            _check_teacher(system, entry)
        cases = []
        for index, entry in enumerate(self.tasks):
            try:
                cases.append(build_case(entry, self.teachers, self.data, self.dataset_protocol))
            except ConfigError as err:
                raise ConfigError(err.message, ("tasks", index)) from None
        names = [c.name for c in cases]
        repeated = next((n for n in names if names.count(n) > 1), None)
        if repeated:
            raise ConfigError(f"case {repeated!r} appears twice in `tasks`")
        self._training = {(name, case.name): _training_setup(name, entry, self.training, case)
                          for name, entry in self._models.items() for case in cases}
        get_protocol(self.md.protocol).with_overrides(("md", "overrides"), **self.md.overrides)
        self._cases = cases
        return self

    @property
    def cases(self) -> list[Case]:
        return self._cases

    @property
    def model_entries(self) -> dict[str, ModelEntry]:
        """Every model the plan trains, by name (with ``torchmd_graph: both``, TorchMD-Net twice)."""
        return self._models

    def training_setup(self, model: str, case: Case) -> TrainingSetup:
        """How ``model`` trains on ``case``: the sections set by the plan (the rest take egraff.train's defaults)."""
        return self._training[(model, case.name)]

    def md_protocol(self):
        """The plan's egraff.md protocol with its overrides."""
        from egraff.md import get_protocol

        return get_protocol(self.md.protocol).with_overrides(("md", "overrides"), **self.md.overrides)

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


def _torchmd_graphs(models: dict[str, ModelEntry], graph: str) -> dict[str, ModelEntry]:
    """TorchMD-Net with egraff's graph, the study's, or both side by side."""
    if graph == "egraff":
        return models
    name = next((n for n, e in models.items() if e.architecture == "torchmd-et"), None)
    if name is None:
        raise ConfigError(f"torchmd_graph: {graph} needs a torchmd-et model in `models`", ("torchmd_graph",))
    study = models[name].model_copy(update={"hyperparameters": {**models[name].hyperparameters, "study_graph": True}})
    if graph == "study":
        return {**models, name: study}
    return {**models, TORCHMD_STUDY: study}


def _training_setup(name: str, entry: ModelEntry, training: dict, case: Case) -> TrainingSetup:
    """The model's recipe (the study's for the case's dataset, or none), then the plan-wide ``training``
    sections, then the model's ``config``, then its architecture, each checked against the egraff.train schema."""
    from egraff.benchmark.recipes import study_sections
    from egraff.train.config import ModelSection, TrainConfig

    sections, warmup_steps, deviations, origin = {}, 0, [], "the plan's training protocol"
    if entry.recipe == "study":
        recipe = study_sections(entry.architecture, case.recipe_dataset, case.elements)
        sections, warmup_steps, deviations = recipe.sections, recipe.warmup_steps, recipe.deviations
        origin = f"the study's recipe ({case.recipe_dataset or 'default settings'})"
    model_section = {"architecture": entry.architecture, "preset": entry.preset,
                     "hyperparameters": {**sections.get("model", {}).get("hyperparameters", {}),
                                         **entry.hyperparameters}}
    validate(ModelSection, model_section, prefix=("models", name))
    validate(TrainConfig, training, prefix=("training",), context={"frames_given": True})
    sections = merge(merge(merge(sections, training), entry.config), {"model": model_section})
    resolved = validate(TrainConfig, sections, prefix=("models", name, "config"), context={"frames_given": True})
    return TrainingSetup(sections, warmup_steps, origin, deviations, resolved.model_dump())


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
