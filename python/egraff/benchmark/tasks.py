"""The EGraFFBench study as data: which datasets each task uses, their splits and MD temperatures, and
how one task entry of a plan becomes a :class:`Case` (its training, validation, test and reference
frame sources; notes/egraffbench.md).

Tasks: ``in_distribution`` (a registry dataset or ``teacher:<system>``), ``higher_temperature`` (3BPA
and acac 300 → 600 K, or a teacher's ``train_temperatures`` → ``test_temperatures``),
``unseen_molecules`` (three MD17 molecules → the fourth, ``held_out``) and ``unseen_structures``
(LiPS20 compositions or teacher phases ``held_out``).
"""

from __future__ import annotations

from dataclasses import dataclass

from egraff.config import ConfigError

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


@dataclass
class Case:
    """One (task, dataset) case: where its frames come from (egraff.data.frames sources) and how its MD runs."""

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


def build_case(entry, teachers: dict, sizes) -> Case:
    """The case of one ``tasks`` entry of a plan (validated), with ``teachers`` and data ``sizes`` of the plan."""
    builder = {"in_distribution": _in_distribution, "higher_temperature": _higher_temperature,
               "unseen_molecules": _unseen_molecules, "unseen_structures": _unseen_structures}[entry.task]
    case = builder(entry, teachers, sizes)
    missing = sorted(set(case.test_elements) - set(case.elements))
    if missing:
        raise ConfigError(f"case {case.name}: the test frames contain {' '.join(missing)}, which no training frame "
                          "has; train on data with every element of the test set")
    return case


def _registry(name: str):
    from egraff.data import dataset_names, get_dataset

    if name not in dataset_names():
        raise ConfigError(f"unknown dataset {name!r}; use a registry name ({', '.join(dataset_names())}) "
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
        raise ConfigError(f"unknown teacher system {system!r} in {dataset!r}; choose from {', '.join(TEACHER_SYSTEMS)}")
    if system not in teachers:
        raise ConfigError(f"{dataset} is used by a task but not generated: add `{system}:` under `teachers`")
    return system


def teacher_runs(system: str, teachers: dict) -> list[tuple[str, float]]:
    """The (phase, temperature) runs the plan generates for a teacher system."""
    from egraff.data.generate import COPPER_DEFAULT_T, SILICON_DEFAULT_T

    options = teachers[system].options
    if system == "water":
        return [("liquid", float(t)) for t in options.get("temperatures", (300.0,))]
    defaults = {"silicon": SILICON_DEFAULT_T, "copper": COPPER_DEFAULT_T}[system]
    phases = options.get("phases", tuple(defaults))
    return [(p, float(t)) for p in phases for t in (options.get("temperatures") or defaults[p])]


def _teacher_case(entry, teachers, sizes, task, name, train_runs, test_runs) -> Case:
    system = _teacher_name(entry.dataset, teachers)
    available = teacher_runs(system, teachers)
    for phase, temperature in train_runs + test_runs:
        if (phase, temperature) not in available:
            raise ConfigError(f"case {name}: the {system} teacher generates no {phase} run at {temperature:g} K; "
                              f"it generates {', '.join(f'{p} {t:g} K' for p, t in available)}")

    def source(runs, trajectory):
        return {"teacher": "teacher", "phases": sorted({p for p, _ in runs}),
                "temperatures": sorted({t for _, t in runs}), "trajectory": trajectory}

    if not train_runs or not test_runs:
        raise ConfigError(f"case {name}: it needs teacher runs both to train on and to test on")
    train = source(train_runs, False)
    elements = TEACHER_SYSTEMS[system]
    phase = test_runs[0][0]
    return Case(name, task, entry.dataset, [_sized({**train, "fold": "train"}, sizes.n_train)],
                [_sized({**train, "fold": "val"}, sizes.n_val)], [_sized(source(test_runs, True), sizes.n_test)],
                [source(test_runs[:1], True)], test_runs[0][1], teacher=system,
                phase_method=PHASE_METHODS.get(system) if phase not in ("liquid", "amorphous") else None,
                diffusion=phase == "liquid", elements=elements, test_elements=elements)


def _registry_case(name, task, dataset, train, val, test, temperature, sizes, train_elements, test_elements) -> Case:
    return Case(name, task, dataset, [_sized(s, sizes.n_train) for s in train],
                [_sized(s, sizes.n_val) for s in val], [_sized(s, sizes.n_test) for s in test],
                [_sized(s, sizes.n_test) for s in test], temperature,
                elements=train_elements, test_elements=test_elements)


def _in_distribution(entry, teachers, sizes) -> Case:
    dataset = entry.dataset
    if not dataset:
        raise ConfigError("in_distribution needs `dataset`")
    name = f"in_distribution/{dataset}"
    if dataset.startswith("teacher:"):
        runs = teacher_runs(_teacher_name(dataset, teachers), teachers)
        chosen = [r for r in runs if r[0] == (entry.phase or runs[0][0])]
        return _teacher_case(entry, teachers, sizes, "in_distribution", name, chosen, chosen)
    _registry(dataset)
    if dataset not in IN_DISTRIBUTION:
        raise ConfigError(f"in_distribution has no split recipe for {dataset}; use one of {', '.join(IN_DISTRIBUTION)}")
    *splits, temperature = IN_DISTRIBUTION[dataset]
    train, val, test = ({"dataset": dataset, **s} for s in splits)
    elements = _registry_elements(dataset)
    return _registry_case(name, "in_distribution", dataset, [train], [val], [test], temperature, sizes,
                          elements, elements)


def _higher_temperature(entry, teachers, sizes) -> Case:
    dataset = entry.dataset or ""
    name = f"higher_temperature/{dataset}"
    if dataset.startswith("teacher:"):
        system = _teacher_name(dataset, teachers)
        runs = teacher_runs(system, teachers)
        phase = entry.phase or runs[0][0]
        low, high = entry.train_temperatures or [], entry.test_temperatures or []
        if not low or not high or max(low) >= min(high):
            raise ConfigError(f"case {name}: give train_temperatures all below test_temperatures (K)")
        return _teacher_case(entry, teachers, sizes, "higher_temperature", name,
                             [(phase, float(t)) for t in low], [(phase, float(t)) for t in high])
    _registry(dataset)
    if dataset not in HIGHER_TEMPERATURE:
        raise ConfigError(f"higher_temperature needs data at two temperatures: {dataset!r} has none; use "
                          f"{', '.join(HIGHER_TEMPERATURE)} or a teacher:silicon / teacher:copper case")
    train_split, test_split, temperature = HIGHER_TEMPERATURE[dataset]
    train, val, test = IN_DISTRIBUTION[dataset][:3]
    elements = _registry_elements(dataset)
    return _registry_case(name, "higher_temperature", dataset, [{"dataset": dataset, **train}],
                          [{"dataset": dataset, **val}], [{"dataset": dataset, "split": test_split}], temperature,
                          sizes, elements, elements)


def _unseen_molecules(entry, teachers, sizes) -> Case:
    held_out = entry.held_out
    if held_out not in MD17:
        raise ConfigError(f"unseen_molecules trains on three MD17 molecules and tests on the fourth: held_out must be "
                          f"one of {', '.join(MD17)}, not {held_out!r}")
    trained_on = [m for m in MD17 if m != held_out]
    per_molecule = {k: (None if getattr(sizes, k) is None else max(1, getattr(sizes, k) // 3))
                    for k in ("n_train", "n_val")}
    train = [_sized({"dataset": m, "split": "train"}, per_molecule["n_train"]) for m in trained_on]
    val = [_sized({"dataset": m, "split": "val"}, per_molecule["n_val"]) for m in trained_on]
    test = [_sized({"dataset": held_out, "split": "test"}, sizes.n_test)]
    elements = tuple(sorted({e for m in trained_on for e in _registry_elements(m)}))
    return Case(f"unseen_molecules/{held_out}", "unseen_molecules", held_out, train, val, test, test, 500.0,
                elements=elements, test_elements=_registry_elements(held_out))


def _unseen_structures(entry, teachers, sizes) -> Case:
    from egraff.data.registry import LIPS20_COMPOSITIONS

    dataset = entry.dataset or ""
    held_out = entry.held_out or []
    held_out = [held_out] if isinstance(held_out, str) else list(held_out)
    name = f"unseen_structures/{dataset}-{'+'.join(held_out)}"
    if not held_out:
        raise ConfigError(f"case {name}: unseen_structures needs `held_out` (phases or LiPS20 compositions)")
    if dataset.startswith("teacher:"):
        system = _teacher_name(dataset, teachers)
        if system == "water":
            raise ConfigError("unseen_structures needs several crystal structures; the water teacher has one liquid")
        runs = teacher_runs(system, teachers)
        phases = {p for p, _ in runs}
        bad = [p for p in held_out if p not in phases]
        if bad:
            raise ConfigError(f"case {name}: the {system} teacher generates no {bad[0]!r} phase; it has "
                              f"{', '.join(sorted(phases))}")
        return _teacher_case(entry, teachers, sizes, "unseen_structures", name,
                             [r for r in runs if r[0] not in held_out], [r for r in runs if r[0] in held_out])
    if dataset != "lips20":
        raise ConfigError(f"unseen_structures needs several structures or compositions: {dataset!r} has one; use "
                          "lips20 (compositions) or teacher:copper / teacher:silicon (phases)")
    bad = [c for c in held_out if c not in LIPS20_COMPOSITIONS]
    if bad:
        raise ConfigError(f"LiPS20 has no composition {bad[0]!r}; choose from {', '.join(LIPS20_COMPOSITIONS)}")
    trained_on = entry.train_compositions or [c for c in LIPS20_COMPOSITIONS if c not in held_out]
    train = [{"dataset": "lips20", "split": "train", "subset": trained_on}]
    val = [{"dataset": "lips20", "split": "val", "subset": trained_on}]
    test = [{"dataset": "lips20", "split": "val", "subset": held_out}]
    return _registry_case(name, "unseen_structures", dataset, train, val, test, 3000.0, sizes,
                          _registry_elements("lips20", trained_on), _registry_elements("lips20", held_out))
