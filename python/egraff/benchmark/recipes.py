"""The study's training recipe of each architecture (:mod:`egraff.models.recipes`) as egraff.train sections.

:func:`study_sections` maps every recipe setting onto egraff.train's keys for one dataset (the study's
per-dataset values: batch sizes, epochs, MACE's r_max 8 on GeTe, BOTNet's 4 interactions on naphthalene
and salicylic acid, TorchMD-Net's 50 neighbours on LiPS20) and lists, each in one sentence, what egraff's
engine does differently. A warm-up the study counts in optimiser steps becomes ``warmup_steps``, which the
training job turns into epochs once it knows how many batches an epoch has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from egraff.models.recipes import E0S, RECIPES, setting

#: loss forms of the study's trainers -> (egraff.train loss.form, energy error per atom)
LOSS_FORMS = {"per_atom_mse": ("mse", True), "mace_weighted": ("mse", True), "l2mae_standardized": ("l2mae", False),
              "mse_ema_smoothed": ("mse", False)}


@dataclass
class StudyRecipe:
    sections: dict  # egraff.train sections
    warmup_steps: int = 0  # a warm-up counted in optimiser steps (converted to epochs by the training job)
    deviations: list = field(default_factory=list)  # what egraff's engine does not reproduce, one sentence each


def study_sections(architecture: str, dataset: str | None, elements=()) -> StudyRecipe:
    """The study's recipe of ``architecture`` for ``dataset`` (None: the recipe's defaults, e.g. a mixture of
    MD17 molecules or teacher data) and training data of ``elements`` as egraff.train sections."""
    def get(key):
        return setting(architecture, key, dataset)

    recipe = RECIPES[architecture]
    optim = {"optimizer": get("optimizer"), "amsgrad": get("amsgrad"), "lr": get("lr"),
             "weight_decay": get("weight_decay"), "ema_decay": get("ema_decay"), "grad_clip": get("grad_clip")}
    deviations = []
    if get("weight_decay") and ("only" in recipe["weight_decay"].note or "not on" in recipe["weight_decay"].note):
        deviations.append(f"weight decay {get('weight_decay'):g} on every weight (the study: "
                          f"{recipe['weight_decay'].note})")
    scheduler = get("scheduler")
    if scheduler["name"] == "plateau":
        optim.update(scheduler="plateau", plateau_patience=scheduler["patience"], plateau_factor=scheduler["factor"],
                     min_lr=scheduler.get("min_lr", 0.0))
    else:
        optim.update(scheduler="cosine", min_lr=scheduler["min_lr"])
        if scheduler.get("cooldown_epochs"):
            deviations.append(f"no {scheduler['cooldown_epochs']} cooldown epochs at the cosine schedule's floor")
    warmup, warmup_steps = get("warmup"), 0
    if warmup:
        if "epochs" in warmup:
            optim["warmup_epochs"] = float(warmup["epochs"])
        else:
            warmup_steps = int(warmup["steps"])
        deviations.append(f"the warm-up ramps linearly from lr / (warm-up steps), not from {warmup['start_lr']:g}")
    loss_setting = get("loss")
    form, per_atom = LOSS_FORMS[loss_setting["form"]]
    loss = {"form": form, "energy_per_atom": per_atom, "energy_weight": loss_setting["energy_weight"],
            "force_weight": loss_setting["forces_weight"]}
    if loss_setting["form"] == "mse_ema_smoothed":
        deviations.append(f"no running-average smoothing of the loss terms (energy alpha "
                          f"{loss_setting['energy_alpha']:g}): the energy term enters at its full weight")
    if loss_setting["form"] in ("l2mae_standardized", "mse_ema_smoothed"):
        deviations.append("energies are not standardised by the training set's std (a common factor on the loss, "
                          "which Adam's steps do not see)")
    train = {"batch_size": get("batch_size"), "max_epochs": get("max_epochs"), "early_stopping_monitor": "val/loss",
             "early_stopping_patience": (get("early_stopping") or {}).get("patience")}
    stops = {k: v for k, v in (get("early_stopping") or {}).items() if k != "patience"}
    if stops:
        deviations.append("no stop at " + " or ".join(f"{k} {v:g}" for k, v in stops.items()))
    swa = get("swa")
    stage_two = ({"start": swa["start_fraction"], "lr": swa["lr"], "energy_weight": swa["energy_weight"],
                  "force_weight": swa["forces_weight"]} if swa else {"start": None})
    if swa:
        deviations.append("stage two switches loss weights and lr as MACE's --swa does, without averaging the "
                          "weights (EMA stays on)")
    model = {"r_max": get("r_max"), "dtype": get("dtype"), "hyperparameters": dict(get("hyperparameters")),
             "e0s": _e0s(architecture, elements)}
    if model["e0s"] == "least_squares":
        deviations.append(f"the study's fixed E0s have no {' '.join(elements)}: least-squares E0s instead")
    if model["e0s"] == "per_atom_mean" and "standardi" in recipe["energy_reference"].value:
        deviations.append("per-element shift = the training set's mean energy per atom, not its mean total energy")
    sections = {"model": model, "optim": optim, "loss": loss, "train": train, "stage_two": stage_two}
    return StudyRecipe(sections, warmup_steps, deviations)


def _e0s(architecture: str, elements):
    """MACE and BOTNet: the study's fixed E0s (least squares for elements it has none for); the others: the
    training set's mean energy per atom."""
    from ase.data import atomic_numbers

    if "E0s" not in RECIPES[architecture]["energy_reference"].note:
        return "per_atom_mean"
    if all(atomic_numbers[e] in E0S.value for e in elements):
        return {atomic_numbers[e]: E0S.value[atomic_numbers[e]] for e in elements} if elements else dict(E0S.value)
    return "least_squares"


def describe(config: dict, warmup_steps: int = 0) -> str:
    """One line of the settings that matter of a resolved egraff.train config, for the report."""
    o, t, loss, s, m = config["optim"], config["train"], config["loss"], config["stage_two"], config["model"]
    parts = [f"{m['preset']} preset, r_max {m['r_max']:g}", f"{o['optimizer']}{' (AMSGrad)' if o['amsgrad'] else ''} "
             f"lr {o['lr']:g}", f"{o['scheduler']} schedule", f"EMA {o['ema_decay']:g}" if o["ema_decay"] else "no EMA",
             f"loss {loss['form']} E {loss['energy_weight']:g} / F {loss['force_weight']:g}"
             f"{'' if loss['energy_per_atom'] else ' (total energy)'}",
             f"batch {t['batch_size']}, ≤ {t['max_epochs']} epochs"
             + (f", ≥ {t['min_steps']} steps" if t.get("min_steps") else "")]
    if m["hyperparameters"]:
        parts.append(", ".join(f"{k} {v}" for k, v in m["hyperparameters"].items()))
    if t["early_stopping_patience"] is not None:
        parts.append(f"early stop on {t['early_stopping_monitor']}, patience {t['early_stopping_patience']}"
                     + (f", min. gain {t['early_stopping_min_delta']:g}" if t.get("early_stopping_min_delta") else "")
                     + (f" and {100 * t['early_stopping_min_relative_gain']:g} %"
                        if t.get("early_stopping_min_relative_gain") else ""))
    if warmup_steps or o["warmup_epochs"]:
        parts.append(f"warm-up {warmup_steps} steps" if warmup_steps else f"warm-up {o['warmup_epochs']:g} epochs")
    if s["start"] is not None:
        parts.append(f"stage two from {s['start']:g}")
    return "; ".join(parts)
