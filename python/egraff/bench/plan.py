"""Benchmark plans: YAML → checked cases → the job graph.

A plan (see ``plans/smoke.yaml`` and ``plans/paper.yaml``) names

- ``models``: architectures, each with ``preset`` (tiny | paper), ``hyperparameters`` and a ``config``
  of egraff.train sections that override the plan-wide ``training`` sections;
- ``data``: frames per case (``n_train``, ``n_val``, ``n_test``; null = all);
- ``teachers``: classical-teacher systems to generate (``silicon``, ``copper``, ``water``) with
  their ``options`` and ``protocol`` (egraff.data.generate);
- ``tasks``: a list of cases, each ``{task: ..., ...}``:

  * ``in_distribution`` — ``dataset``: a registry name or ``teacher:<system>``;
  * ``higher_temperature`` — ``dataset``: 3bpa (300 → 600 K), acac (300 → 600 K) or a teacher with
    ``phase``, ``train_temperatures`` and ``test_temperatures``;
  * ``unseen_molecules`` — ``held_out``: one MD17 molecule, trained on the other three;
  * ``unseen_structures`` — ``dataset``: lips20 (``held_out`` compositions) or a teacher
    (``held_out`` phases);

- ``md``: an egraff.md protocol name and ``overrides`` of its settings; ``seeds``: training and MD seeds.

:func:`load_plan` checks everything — names, task/dataset combinations, splits, elements, teacher
phases and temperatures — and raises :class:`PlanError` with one sentence before any job starts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from egraff.bench.engine import Job

PLANS = Path(__file__).parent / "plans"
PRESETS = ("smoke", "paper")
TASKS = ("in_distribution", "higher_temperature", "unseen_molecules", "unseen_structures")
MD17 = ("md17_aspirin", "md17_ethanol", "md17_naphthalene", "md17_salicylic_acid")
TEACHER_SYSTEMS = {"silicon": ("Si",), "copper": ("Cu",), "water": ("H", "O")}
#: structure identification for crystal phases of the teachers (egraff.analysis.PhaseFractions)
PHASE_METHODS = {"silicon": "diamond", "copper": "ptm"}
#: registry datasets: the splits of the in-distribution task (train, val, test) and the MD temperature (K)
IN_DISTRIBUTION = {
    **{name: ({"split": "train"}, {"split": "val"}, {"split": "test"}, 500.0) for name in MD17},
    "3bpa": ({"split": "train"}, {"split": "val", "take": [0, 169]}, {"split": "val", "take": [169, 1669]}, 300.0),
    "acac": ({"split": "train"}, {"split": "val"}, {"split": "test"}, 300.0),
    "lips": ({"split": "val", "take": [0, 800]}, {"split": "val", "take": [800, 900]},
             {"split": "val", "take": [900, 1000]}, 520.0),
    "lips20": ({"split": "train"}, {"split": "val", "take": [0, 50]}, {"split": "val"}, 3000.0),
    "gete": ({"split": "val"}, {"split": "test", "take": [0, 50]}, {"split": "test", "take": [50, 300]}, 300.0),
    "water": ({"split": "train"}, {"split": "val"}, {"split": "test"}, 300.0),
}
#: systems of bonded molecules (Fu et al.'s bond criterion applies) and isolated molecules in a box (no RDF criterion)
MOLECULAR = (*MD17, "3bpa", "acac", "water", "teacher:water")
ISOLATED_MOLECULES = (*MD17, "3bpa", "acac")
#: Fu et al.'s RDF-MAE thresholds (water 3.0, LiPS 1.0); others take water's
RDF_THRESHOLDS = {"lips": 1.0, "lips20": 1.0}
#: registry datasets with a higher-temperature test set: (train split, test split, test temperature)
HIGHER_TEMPERATURE = {"3bpa": ("train", "test", 600.0), "acac": ("train", "test_600K", 600.0)}


class PlanError(ValueError):
    """A plan that cannot run, with one sentence saying what to fix."""


@dataclass
class Case:
    """One (task, dataset) case: where its frames come from and how its MD runs."""

    name: str
    task: str
    dataset: str
    train: list
    val: list
    test: list
    reference: list
    temperature: float
    teacher: str | None = None  # teacher system the frames come from
    phase_method: str | None = None  # crystal structure identification of the test phase (crystals)
    diffusion: bool = False  # liquid test phase: compare self-diffusion coefficients
    elements: tuple = ()
    test_elements: tuple = ()


@dataclass
class Plan:
    name: str
    raw: dict
    models: dict
    cases: list
    seeds: list
    md: dict
    teachers: dict = field(default_factory=dict)


def plan_path(preset_or_path: str) -> Path:
    if preset_or_path in PRESETS:
        return PLANS / f"{preset_or_path}.yaml"
    path = Path(preset_or_path)
    if not path.is_file():
        raise PlanError(f"no plan {preset_or_path!r}: give a preset ({', '.join(PRESETS)}) or a YAML file that exists")
    return path


def load_plan(preset_or_path: str, overrides: dict | None = None) -> Plan:
    path = plan_path(preset_or_path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise PlanError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    raw = {**raw, **(overrides or {})}
    return check_plan(raw)


def check_plan(raw: dict) -> Plan:
    """A :class:`Plan` from its YAML mapping, after every check."""
    from egraff.models import ARCHITECTURES

    known = {"name", "description", "models", "training", "data", "teachers", "tasks", "md", "seeds"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise PlanError(f"unknown plan key(s) {', '.join(unknown)}; a plan has {', '.join(sorted(known))}")
    for key in ("models", "tasks"):
        if not raw.get(key):
            raise PlanError(f"the plan needs `{key}`")
    bad = [m for m in raw["models"] if m not in ARCHITECTURES]
    if bad:
        raise PlanError(f"unknown model {bad[0]!r}; choose from {', '.join(ARCHITECTURES)}")
    models = {name: _model_config(name, entry or {}, raw.get("training", {})) for name, entry in raw["models"].items()}
    teachers = dict(raw.get("teachers") or {})
    bad = [t for t in teachers if t not in TEACHER_SYSTEMS]
    if bad:
        raise PlanError(f"unknown teacher system {bad[0]!r}; choose from {', '.join(TEACHER_SYSTEMS)}")
    sizes = {"n_train": None, "n_val": None, "n_test": None, **(raw.get("data") or {})}
    cases = [_case(entry, teachers, sizes) for entry in raw["tasks"]]
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise PlanError(f"case {next(n for n in names if names.count(n) > 1)!r} appears twice in `tasks`")
    for case in cases:
        missing = sorted(set(case.test_elements) - set(case.elements))
        if missing:
            raise PlanError(f"case {case.name}: the test frames contain {' '.join(missing)}, which no training frame "
                            "has; train on data with every element of the test set")
    md = {"protocol": "egraffbench", "overrides": {}, **(raw.get("md") or {})}
    _check_md(md)
    seeds = raw.get("seeds") or [0]
    if not all(isinstance(s, int) for s in seeds):
        raise PlanError(f"seeds must be integers, got {seeds}")
    return Plan(raw.get("name", "plan"), raw, models, cases, seeds, md, teachers)


def _model_config(name: str, entry: dict, training: dict) -> dict:
    from egraff.models import hyperparameters
    from egraff.train.config import ConfigError, merge, DEFAULTS

    unknown = sorted(set(entry) - {"preset", "hyperparameters", "config"})
    if unknown:
        raise PlanError(f"model {name}: unknown key(s) {', '.join(unknown)}; use preset, hyperparameters, config")
    preset = entry.get("preset", "tiny")
    try:
        hyperparameters(name, preset, **(entry.get("hyperparameters") or {}))
        sections = merge(merge({k: {} for k in DEFAULTS}, training or {}, where="training: "),
                         entry.get("config") or {}, where=f"model {name}: ")
    except (ValueError, ConfigError) as err:
        raise PlanError(f"model {name}: {err}") from None
    sections["model"] = {**sections["model"], "architecture": name, "preset": preset,
                         "hyperparameters": entry.get("hyperparameters") or {}}
    return {k: v for k, v in sections.items() if v}


def _check_md(md: dict) -> None:
    from egraff.md import get_protocol

    try:
        get_protocol(md["protocol"]).with_overrides(**md["overrides"])
    except (ValueError, TypeError) as err:
        raise PlanError(f"md: {err}") from None


def _registry(name: str):
    from egraff.data import dataset_names, get_dataset

    if name not in dataset_names():
        raise PlanError(f"unknown dataset {name!r}; use a registry name ({', '.join(dataset_names())}) "
                        f"or teacher:<{'|'.join(TEACHER_SYSTEMS)}>")
    return get_dataset(name)


def _formula_elements(formula: str) -> tuple:
    from ase.formula import Formula

    return tuple(sorted(e for e, n in Formula(formula).count().items() if n > 0))


def _registry_elements(name: str, subsets=None) -> tuple:
    from egraff.data.registry import LIPS20_COMPOSITIONS

    if name == "lips20":
        return tuple(sorted({e for s in (subsets or LIPS20_COMPOSITIONS) for e in
                             _formula_elements(LIPS20_COMPOSITIONS[s])}))
    return _formula_elements(_registry(name).system)


def _sized(source: dict, n, seed: int = 0) -> dict:
    return {**source, "n": n, "seed": seed} if n is not None else dict(source)


def _teacher_name(dataset: str, teachers: dict) -> str | None:
    if not dataset.startswith("teacher:"):
        return None
    system = dataset.split(":", 1)[1]
    if system not in TEACHER_SYSTEMS:
        raise PlanError(f"unknown teacher system {system!r} in {dataset!r}; choose from {', '.join(TEACHER_SYSTEMS)}")
    if system not in teachers:
        raise PlanError(f"{dataset} is used by a task but not generated: add `{system}:` under `teachers`")
    return system


def _teacher_runs(system: str, teachers: dict) -> list[tuple[str, float]]:
    """The (phase, temperature) runs the plan generates for a teacher system."""
    from egraff.data.generate import COPPER_DEFAULT_T, SILICON_DEFAULT_T

    options = teachers[system].get("options", {}) if teachers[system] else {}
    if system == "water":
        return [("liquid", float(t)) for t in options.get("temperatures", (300.0,))]
    defaults = {"silicon": SILICON_DEFAULT_T, "copper": COPPER_DEFAULT_T}[system]
    phases = options.get("phases", tuple(defaults))
    return [(p, float(t)) for p in phases for t in (options.get("temperatures") or defaults[p])]


def _case(entry: dict, teachers: dict, sizes: dict) -> Case:
    task = entry.get("task")
    if task not in TASKS:
        raise PlanError(f"unknown task {task!r} in {entry}; choose from {', '.join(TASKS)}")
    builder = {"in_distribution": _in_distribution, "higher_temperature": _higher_temperature,
               "unseen_molecules": _unseen_molecules, "unseen_structures": _unseen_structures}[task]
    return builder(entry, teachers, sizes)


def _teacher_case(entry, teachers, sizes, task, name, train_runs, test_runs) -> Case:
    system = _teacher_name(entry["dataset"], teachers)
    available = _teacher_runs(system, teachers)
    for phase, temperature in train_runs + test_runs:
        if (phase, temperature) not in available:
            raise PlanError(f"case {name}: the {system} teacher generates no {phase} run at {temperature:g} K; "
                            f"it generates {', '.join(f'{p} {t:g} K' for p, t in available)}")

    def source(runs, trajectory):
        return {"teacher": "teacher", "phases": sorted({p for p, _ in runs}),
                "temperatures": sorted({t for _, t in runs}), "trajectory": trajectory}

    if not train_runs or not test_runs:
        raise PlanError(f"case {name}: it needs teacher runs both to train on and to test on")
    train = source(train_runs, False)
    elements = TEACHER_SYSTEMS[system]
    phase = test_runs[0][0]
    return Case(name, task, entry["dataset"], [_sized({**train, "fold": "train"}, sizes["n_train"])],
                [_sized({**train, "fold": "val"}, sizes["n_val"])], [_sized(source(test_runs, True), sizes["n_test"])],
                [source(test_runs[:1], True)], test_runs[0][1], teacher=system,
                phase_method=PHASE_METHODS.get(system) if phase not in ("liquid", "amorphous") else None,
                diffusion=phase == "liquid",
                elements=elements, test_elements=elements)


def _registry_case(name, task, dataset, train, val, test, temperature, sizes, train_elements, test_elements) -> Case:
    return Case(name, task, dataset, [_sized(s, sizes["n_train"]) for s in train],
                [_sized(s, sizes["n_val"]) for s in val], [_sized(s, sizes["n_test"]) for s in test],
                [_sized(s, sizes["n_test"]) for s in test], temperature,
                elements=train_elements, test_elements=test_elements)


def _in_distribution(entry, teachers, sizes) -> Case:
    dataset = entry.get("dataset")
    if not dataset:
        raise PlanError(f"in_distribution needs `dataset` in {entry}")
    name = f"in_distribution/{dataset}"
    if dataset.startswith("teacher:"):
        runs = _teacher_runs(_teacher_name(dataset, teachers), teachers)
        chosen = [r for r in runs if r[0] == entry.get("phase", runs[0][0])]
        return _teacher_case(entry, teachers, sizes, "in_distribution", name, chosen, chosen)
    _registry(dataset)
    if dataset not in IN_DISTRIBUTION:
        raise PlanError(f"in_distribution has no split recipe for {dataset}; use one of {', '.join(IN_DISTRIBUTION)}")
    train, val, test, temperature = ({"dataset": dataset, **s} if isinstance(s, dict) else s
                                     for s in IN_DISTRIBUTION[dataset])
    elements = _registry_elements(dataset)
    return _registry_case(name, "in_distribution", dataset, [train], [val], [test], temperature, sizes,
                          elements, elements)


def _higher_temperature(entry, teachers, sizes) -> Case:
    dataset = entry.get("dataset", "")
    name = f"higher_temperature/{dataset}"
    if dataset.startswith("teacher:"):
        system = _teacher_name(dataset, teachers)
        runs = _teacher_runs(system, teachers)
        phase = entry.get("phase", runs[0][0])
        low = [float(t) for t in entry.get("train_temperatures", [])]
        high = [float(t) for t in entry.get("test_temperatures", [])]
        if not low or not high or max(low) >= min(high):
            raise PlanError(f"case {name}: give train_temperatures all below test_temperatures (K)")
        return _teacher_case(entry, teachers, sizes, "higher_temperature", name,
                             [(phase, t) for t in low], [(phase, t) for t in high])
    _registry(dataset)
    if dataset not in HIGHER_TEMPERATURE:
        raise PlanError(f"higher_temperature needs data at two temperatures: {dataset!r} has none; use "
                        f"{', '.join(HIGHER_TEMPERATURE)} or a teacher:silicon / teacher:copper case")
    train_split, test_split, temperature = HIGHER_TEMPERATURE[dataset]
    train, val, test = IN_DISTRIBUTION[dataset][:3]
    elements = _registry_elements(dataset)
    return _registry_case(name, "higher_temperature", dataset, [{"dataset": dataset, **train}],
                          [{"dataset": dataset, **val}], [{"dataset": dataset, "split": test_split}], temperature,
                          sizes, elements, elements)


def _unseen_molecules(entry, teachers, sizes) -> Case:
    held_out = entry.get("held_out")
    if held_out not in MD17:
        raise PlanError(f"unseen_molecules trains on three MD17 molecules and tests on the fourth: held_out must be "
                        f"one of {', '.join(MD17)}, not {held_out!r}")
    trained_on = [m for m in MD17 if m != held_out]
    per_molecule = {k: (None if sizes[k] is None else max(1, sizes[k] // 3)) for k in ("n_train", "n_val")}
    train = [_sized({"dataset": m, "split": "train"}, per_molecule["n_train"]) for m in trained_on]
    val = [_sized({"dataset": m, "split": "val"}, per_molecule["n_val"]) for m in trained_on]
    test = [_sized({"dataset": held_out, "split": "test"}, sizes["n_test"])]
    elements = tuple(sorted({e for m in trained_on for e in _registry_elements(m)}))
    return Case(f"unseen_molecules/{held_out}", "unseen_molecules", held_out, train, val, test, test, 500.0,
                elements=elements, test_elements=_registry_elements(held_out))


def _unseen_structures(entry, teachers, sizes) -> Case:
    from egraff.data.registry import LIPS20_COMPOSITIONS

    dataset = entry.get("dataset", "")
    held_out = entry.get("held_out") or []
    held_out = [held_out] if isinstance(held_out, str) else list(held_out)
    name = f"unseen_structures/{dataset}-{'+'.join(held_out)}"
    if not held_out:
        raise PlanError(f"case {name}: unseen_structures needs `held_out` (phases or LiPS20 compositions)")
    if dataset.startswith("teacher:"):
        system = _teacher_name(dataset, teachers)
        if system == "water":
            raise PlanError("unseen_structures needs several crystal structures; the water teacher has one liquid")
        runs = _teacher_runs(system, teachers)
        phases = {p for p, _ in runs}
        bad = [p for p in held_out if p not in phases]
        if bad:
            raise PlanError(f"case {name}: the {system} teacher generates no {bad[0]!r} phase; it has "
                            f"{', '.join(sorted(phases))}")
        return _teacher_case(entry, teachers, sizes, "unseen_structures", name,
                             [r for r in runs if r[0] not in held_out], [r for r in runs if r[0] in held_out])
    if dataset != "lips20":
        raise PlanError(f"unseen_structures needs several structures or compositions: {dataset!r} has one; use "
                        "lips20 (compositions) or teacher:copper / teacher:silicon (phases)")
    bad = [c for c in held_out if c not in LIPS20_COMPOSITIONS]
    if bad:
        raise PlanError(f"LiPS20 has no composition {bad[0]!r}; choose from {', '.join(LIPS20_COMPOSITIONS)}")
    trained_on = entry.get("train_compositions") or [c for c in LIPS20_COMPOSITIONS if c not in held_out]
    train = [{"dataset": "lips20", "split": "train", "subset": trained_on}]
    val = [{"dataset": "lips20", "split": "val", "subset": trained_on}]
    test = [{"dataset": "lips20", "split": "val", "subset": held_out}]
    return _registry_case(name, "unseen_structures", dataset, train, val, test, 3000.0, sizes,
                          _registry_elements("lips20", trained_on), _registry_elements("lips20", held_out))


def plan_jobs(plan: Plan) -> Job:
    """The job graph of a plan; returns the leaderboard job (everything else is upstream of it)."""
    teacher_jobs = {system: Job("teacher", {"system": system, **copy.deepcopy(entry or {})}, label=system)
                    for system, entry in plan.teachers.items()}
    rows, deps = [], {}
    for case in plan.cases:
        data_deps = {"teacher": teacher_jobs[case.teacher]} if case.teacher else {}
        for model, config in plan.models.items():
            for seed in plan.seeds:
                tag = f"{case.name}|{model}|{seed}"
                seeded = copy.deepcopy(config)
                seeded.setdefault("train", {})["seed"] = seed
                trained = Job("train", {"train": case.train, "val": case.val, "config": seeded}, data_deps,
                              label=f"{model} on {case.name}")
                exported = Job("export", {}, {"model": trained}, label=f"{model} on {case.name}")
                evaluated = Job("evaluate", {"test": case.test}, {"model": exported, **data_deps},
                                label=f"{model} on {case.name}")
                simulated = Job("md", {"start": case.reference, "system": case.name.replace("/", "-"),
                                       "temperature": case.temperature, "protocol": plan.md["protocol"],
                                       "overrides": plan.md["overrides"], "seed": seed},
                                {"model": exported, **data_deps}, label=f"{model} on {case.name}")
                analysed = Job("analyse", {"reference": case.reference, "phase_method": case.phase_method,
                                           "rdf_threshold": RDF_THRESHOLDS.get(case.dataset, 3.0),
                                           "bond_criterion": case.dataset in MOLECULAR,
                                           "rdf_criterion": case.dataset not in ISOLATED_MOLECULES,
                                           "distance_histogram": case.dataset in ISOLATED_MOLECULES,
                                           "diffusion": case.diffusion},
                               {"md": simulated, "model": exported, **data_deps},
                               label=f"{model} on {case.name}")
                for step, job in (("train", trained), ("evaluate", evaluated), ("md", simulated),
                                  ("analyse", analysed)):
                    deps[f"{tag}|{step}"] = job
                rows.append({"tag": tag, "task": case.task, "case": case.name, "dataset": case.dataset,
                             "model": model, "seed": seed, "temperature_K": case.temperature})
    return Job("leaderboard", {"plan": plan.raw, "rows": rows}, deps, label=plan.name)
