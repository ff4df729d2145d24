"""The EGraFFBench study as data: which datasets each task uses, their splits and MD temperatures, and
how one task entry of a plan becomes a :class:`Case` (its training, validation, test and reference
frame sources; notes/egraffbench.md).

Tasks: ``in_distribution`` (a registry dataset or ``teacher:<system>``), ``higher_temperature`` (3BPA
and acac 300 → 600 K, or a teacher's ``train_temperatures`` → ``test_temperatures``),
``unseen_molecules`` (three MD17 molecules → the fourth, ``held_out``) and ``unseen_structures``
(LiPS20 compositions or teacher phases ``held_out``).

Two dataset protocols (a plan's ``dataset_protocol``) split and simulate the registry datasets:

- ``study`` — as the study used its release (M3RG-IITD/MDBENCHGNN@e4ee1e9): 3BPA validates on the
  300 K set and tests on the released test split, which is the 600 K set; acac validates and tests on
  the same file (``test_MD_300K``; the released val and test files are byte-identical, a leak the
  report flags); LiPS and LiPS20 MD at 520 K, the value of the study's MD scripts;
- ``egraff`` — ours: 3BPA in-distribution on 300 K frames (the released val split, cut 169 / 1500);
  acac validates on every 10th training frame; LiPS20 MD at the 3000 K of its data (the folder's label;
  central-difference kinetic temperatures of its frames measure 2000–5000 K).

Both: MD17 at the 500 K of its data; GeTe at 300 K (its data's temperature is not documented); LiPS
trains on the only released split (val) and GeTe on its val split (their train/test files are absent
from the public snapshot), which the report states on its first screen. LiPS20 is split 900/100 per
composition (egraff.data's seeded random split); validation and test take disjoint halves of each
composition's 100 frames. A case's reference frames come in groups of one composition each (MD
starts, RDF reference and ground-truth trajectory are per group): LiPS20's compositions have
different atom counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from egraff.config import ConfigError

TASKS = ("in_distribution", "higher_temperature", "unseen_molecules", "unseen_structures")
DATASET_PROTOCOLS = ("egraff", "study")
MD17 = ("md17_aspirin", "md17_ethanol", "md17_naphthalene", "md17_salicylic_acid")
TEACHER_SYSTEMS = {"silicon": ("Si",), "copper": ("Cu",), "water": ("H", "O")}
#: structure identification for crystal phases of the teachers (egraff.analysis.PhaseFractions)
PHASE_METHODS = {"silicon": "diamond", "copper": "ptm"}
#: systems of bonded molecules (Fu et al.'s bond criterion applies) and isolated molecules in a box (no RDF criterion)
MOLECULAR = (*MD17, "3bpa", "acac", "water", "teacher:water")
ISOLATED_MOLECULES = (*MD17, "3bpa", "acac")
#: Fu et al.'s RDF-MAE thresholds (water 3.0, LiPS 1.0); others take water's
RDF_THRESHOLDS = {"lips": 1.0, "lips20": 1.0}
#: the study's MD temperature of LiPS and LiPS20 (scripts/md_simulation/*/run.sh and lips.sh: TEMP=520)
STUDY_LIPS_TEMPERATURE = 520.0

_3BPA_STUDY = ("study split: the released test split (2138 frames) is the 600 K set and val (1669) the 300 K set, "
               "so the study's 3BPA numbers are at 600 K")
_3BPA_EGRAFF = ("egraff split: in-distribution 3BPA trains on the 300 K train set, validates on frames 0-168 and "
                "tests on frames 169-1668 of the released val split (the 300 K set); the 600 K set is the "
                "higher-temperature task")
_3BPA_SAME_CASE = ("under the study's split this case is in-distribution 3BPA again: the same training, validation "
                   "and 600 K test frames")
_ACAC_LEAK = ("study split: validation and test are the same file (test_MD_300K, byte-identical in the release), "
              "a leak: early stopping and model selection saw the test frames")
_ACAC_EGRAFF = ("egraff split: validation is every 10th frame of the training file, test the 650-frame "
                "test_MD_300K set")
_LIPS_SUBSTITUTE = ("substitute split: LiPS train and test (19000 / 5001 frames) are absent from the public "
                    "snapshot; frames 0-799 of the 1000-frame val split train, 800-899 validate, 900-999 test")
_GETE_SUBSTITUTE = ("substitute split: GeTe train (1500 frames) is absent from the public snapshot; the 300-frame "
                    "val split trains, test frames 0-49 validate and 50-299 test (val directly follows test in "
                    "one trajectory)")
_LIPS20_SPLIT = ("LiPS20: egraff's seeded 900/100 split of each composition's 1000 frames; validation and test are "
                 "disjoint halves (50 + 50) of each composition's 100")


def _lips20_temperature(protocol: str) -> tuple[float, str]:
    if protocol == "study":
        return STUDY_LIPS_TEMPERATURE, "LiPS20 MD at 520 K, the study's MD scripts' value (its data are labelled 3000 K)"
    return 3000.0, "LiPS20 MD at the 3000 K of its data (the study's scripts ran 520 K)"


#: registry datasets: (train, val, test) sources of the in-distribution task, the MD temperature (K) and what the
#: report says about them, per dataset protocol
def _in_distribution_splits(dataset: str, protocol: str) -> tuple[list, list, list, float, list[str]]:
    from egraff.data.registry import LIPS20_COMPOSITIONS

    whole = ({"split": "train"}, {"split": "val"}, {"split": "test"})
    if dataset in MD17:
        return *whole, 500.0, []
    if dataset == "3bpa":
        if protocol == "study":
            return *whole, 600.0, [_3BPA_STUDY]
        return {"split": "train"}, {"split": "val", "take": [0, 169]}, {"split": "val", "take": [169, 1669]}, 300.0, \
            [_3BPA_EGRAFF]
    if dataset == "acac":
        if protocol == "study":
            return {"split": "train"}, {"split": "val"}, {"split": "val"}, 300.0, [_ACAC_LEAK]
        return ({"split": "train", "fold": "train", "val_fraction": 0.1}, {"split": "train", "fold": "val",
                                                                            "val_fraction": 0.1},
                {"split": "test"}, 300.0, [_ACAC_EGRAFF])
    if dataset == "lips":
        return ({"split": "val", "take": [0, 800]}, {"split": "val", "take": [800, 900]},
                {"split": "val", "take": [900, 1000]}, STUDY_LIPS_TEMPERATURE, [_LIPS_SUBSTITUTE])
    if dataset == "lips20":
        temperature, note = _lips20_temperature(protocol)
        compositions = list(LIPS20_COMPOSITIONS)
        return (_lips20(compositions, "train"), _lips20(compositions, "val", [0, 50]),
                _lips20(compositions, "val", [50, 100]), temperature, [_LIPS20_SPLIT, note])
    if dataset == "gete":
        return ({"split": "val"}, {"split": "test", "take": [0, 50]}, {"split": "test", "take": [50, 300]},
                300.0 if protocol == "egraff" else STUDY_LIPS_TEMPERATURE,
                [_GETE_SUBSTITUTE] + (["GeTe MD at 520 K, the default of the study's MD scripts (the data's "
                                       "temperature is not documented)"] if protocol == "study" else []))
    if dataset == "water":
        return *whole, 300.0, []
    raise ConfigError(f"in_distribution has no split recipe for {dataset}; use one of "
                      f"{', '.join((*MD17, '3bpa', 'acac', 'lips', 'lips20', 'gete', 'water'))}")


def _lips20(compositions, split: str, take=None) -> list[dict]:
    """One source per composition (a ``take`` cuts each composition's frames, not their concatenation)."""
    return [{"split": split, "subset": [c], **({"take": take} if take else {})} for c in compositions]


@dataclass
class Case:
    """One (task, dataset) case: where its frames come from (egraff.data.frames sources) and how its MD runs."""

    name: str
    task: str
    dataset: str
    train: list
    val: list
    test: list
    references: dict  # group name -> sources: MD starts, RDF reference and ground truth, one composition each
    temperature: float
    teacher: str | None = None  # teacher system the frames come from
    phase_method: str | None = None  # crystal structure identification of the test phase (crystals)
    diffusion: bool = False  # liquid test phase: compare self-diffusion coefficients
    elements: tuple = ()
    test_elements: tuple = ()
    recipe_dataset: str | None = None  # whose per-dataset study settings apply (None: the recipes' defaults)
    notes: list = field(default_factory=list)  # what the report says about this case's data


def build_case(entry, teachers: dict, sizes, protocol: str = "egraff") -> Case:
    """The case of one ``tasks`` entry of a plan (validated), with ``teachers``, data ``sizes`` and the
    ``dataset_protocol`` of the plan."""
    builder = {"in_distribution": _in_distribution, "higher_temperature": _higher_temperature,
               "unseen_molecules": _unseen_molecules, "unseen_structures": _unseen_structures}[entry.task]
    case = builder(entry, teachers, sizes, protocol)
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


def _sized_all(sources: list, n) -> list:
    """A cap of ``n`` frames over several sources, shared out evenly (at least one frame each)."""
    return [_sized(s, None if n is None else max(1, n // len(sources))) for s in sources]


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
                {system: [source(test_runs[:1], True)]}, test_runs[0][1], teacher=system,
                phase_method=PHASE_METHODS.get(system) if phase not in ("liquid", "amorphous") else None,
                diffusion=phase == "liquid", elements=elements, test_elements=elements)


def _registry_case(name, task, dataset, train, val, test, temperature, sizes, train_elements, test_elements,
                   notes, recipe_dataset) -> Case:
    """Static errors on at most ``n_test`` test frames; MD starts and references from every test frame, one
    group per composition."""
    groups = {}
    for source in test:
        group = "+".join(source.get("subset") or []) or dataset
        groups.setdefault(group, []).append(dict(source))
    return Case(name, task, dataset, _sized_all(train, sizes.n_train), _sized_all(val, sizes.n_val),
                _sized_all(test, sizes.n_test), groups, temperature, elements=train_elements,
                test_elements=test_elements, recipe_dataset=recipe_dataset, notes=notes)


def _with_dataset(dataset: str, sources) -> list[dict]:
    return [{"dataset": dataset, **s} for s in (sources if isinstance(sources, list) else [sources])]


def _in_distribution(entry, teachers, sizes, protocol) -> Case:
    dataset = entry.dataset
    if not dataset:
        raise ConfigError("in_distribution needs `dataset`")
    name = f"in_distribution/{dataset}"
    if dataset.startswith("teacher:"):
        runs = teacher_runs(_teacher_name(dataset, teachers), teachers)
        chosen = [r for r in runs if r[0] == (entry.phase or runs[0][0])]
        return _teacher_case(entry, teachers, sizes, "in_distribution", name, chosen, chosen)
    _registry(dataset)
    train, val, test, temperature, notes = _in_distribution_splits(dataset, protocol)
    elements = _registry_elements(dataset)
    return _registry_case(name, "in_distribution", dataset, _with_dataset(dataset, train),
                          _with_dataset(dataset, val), _with_dataset(dataset, test), temperature, sizes,
                          elements, elements, notes, dataset)


#: registry datasets with a higher-temperature test set: (test split, temperature (K), note)
HIGHER_TEMPERATURE = {
    "3bpa": ("test", 600.0, "3BPA 600 K: the released test split (the original 600 K test set, 2138 frames)"),
    "acac": ("test_600K", 600.0, "acac 600 K: BOTNet's test_MD_600K (650 frames, random samples), not part of the "
                                 "study's release"),
}


def _higher_temperature(entry, teachers, sizes, protocol) -> Case:
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
    test_split, temperature, note = HIGHER_TEMPERATURE[dataset]
    train, val, _, _, _ = _in_distribution_splits(dataset, protocol)
    notes = [note] + ([_3BPA_SAME_CASE] if dataset == "3bpa" and protocol == "study" else [])
    elements = _registry_elements(dataset)
    return _registry_case(name, "higher_temperature", dataset, _with_dataset(dataset, train),
                          _with_dataset(dataset, val), _with_dataset(dataset, {"split": test_split}), temperature,
                          sizes, elements, elements, notes, dataset)


def _unseen_molecules(entry, teachers, sizes, protocol) -> Case:
    held_out = entry.held_out
    if held_out not in MD17:
        raise ConfigError(f"unseen_molecules trains on three MD17 molecules and tests on the fourth: held_out must be "
                          f"one of {', '.join(MD17)}, not {held_out!r}")
    trained_on = [m for m in MD17 if m != held_out]
    train = [{"dataset": m, "split": "train"} for m in trained_on]
    val = [{"dataset": m, "split": "val"} for m in trained_on]
    test = [{"dataset": held_out, "split": "test"}]
    elements = tuple(sorted({e for m in trained_on for e in _registry_elements(m)}))
    return _registry_case(f"unseen_molecules/{held_out}", "unseen_molecules", held_out, train, val, test, 500.0,
                          sizes, elements, _registry_elements(held_out), [], None)


def _unseen_structures(entry, teachers, sizes, protocol) -> Case:
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
    temperature, note = _lips20_temperature(protocol)
    return _registry_case(name, "unseen_structures", dataset, _with_dataset("lips20", _lips20(trained_on, "train")),
                          _with_dataset("lips20", _lips20(trained_on, "val")),
                          _with_dataset("lips20", _lips20(held_out, "val")), temperature, sizes,
                          _registry_elements("lips20", trained_on), _registry_elements("lips20", held_out),
                          [_LIPS20_SPLIT, note], "lips20")
