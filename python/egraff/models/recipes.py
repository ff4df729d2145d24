"""The training recipes EGraFFBench used, per architecture, as read from its release (M3RG-IITD/MDBENCHGNN at
commit e4ee1e9): the configs and launch scripts, the defaults of the vendored trainers they call, and the
training logs. Data only; egraff's training engine implements the recipes.

Every setting is a :class:`Setting`: its value, the file of the study's repository it comes from, and a note
where the file alone does not say it. A value that differs between datasets is a :class:`PerDataset`
(keys: egraff dataset names, ``md17_*`` and ``3bpa``, ``acac``, ``lips``, ``lips20``, ``gete``); datasets the
release has no configuration for take the default, which the note of the setting says. Look values up with
:func:`setting`.

Keys (the same for every architecture; ``None`` = not used by that trainer):

=====================  =========================================================================================
``optimizer``          "adam" | "adamw"
``amsgrad``            bool
``lr``                 initial learning rate
``weight_decay``       L2 penalty (the note says which parameters)
``scheduler``          dict: ``name`` ("plateau" | "cosine") and its parameters
``warmup``             dict (``steps`` or ``epochs``, ``start_lr``) or None
``ema_decay``          exponential moving average of the weights, or None
``swa``                MACE's stage two: dict (``start_fraction``, ``lr``, ``energy_weight``, ``forces_weight``)
``loss``               dict: ``form`` and its weights (module docstring of each form below)
``batch_size``         training batch size (frames)
``max_epochs``         epoch limit
``early_stopping``     dict or None
``grad_clip``          max gradient norm, or None
``r_max``              cutoff radius (Å)
``energy_reference``   how the energy is referenced and scaled before the loss
``dtype``              training precision
``hyperparameters``    model settings that differ from the architecture's paper preset on some datasets
=====================  =========================================================================================

Loss forms: ``per_atom_mse`` (nequip PerAtomMSELoss on the energy per atom + MSE on force components),
``mace_weighted`` (mace WeightedEnergyForcesLoss: mean of ((E_ref − E)/N)² + mean of force-component squares),
``l2mae_standardized`` (Equiformer main_custom.py: |ΔE| and the mean per-atom Euclidean norm of ΔF, on energies
standardised by the training set's total-energy mean and std, forces divided by the std), ``mse_ema_smoothed``
(torchmd-net: MSE on energies and forces; each loss term replaced by ``alpha * loss + (1 − alpha) * its running
value`` (detached), so alpha = 0.05 scales the energy gradient by 0.05).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

STUDY = "M3RG-IITD/MDBENCHGNN@e4ee1e9"


@dataclass(frozen=True)
class PerDataset:
    default: Any
    datasets: Mapping[str, Any] = field(default_factory=dict)

    def get(self, dataset: str) -> Any:
        return self.datasets.get(dataset, self.default)


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str  # a file of the study's repository
    note: str = ""


NEQUIP_CONFIG = "configs/nequip/md17/aspirin/aspirin.yaml"
NEQUIP_LIPS20 = "configs/nequip/lips20/lips20.yaml"
ALLEGRO_CONFIG = "configs/allegro/md17/aspirin/aspirin.yaml"
ALLEGRO_LIPS20 = "configs/allegro/lips20/lips20.yaml"
MACE_PARSER = "mdbenchgnn/models/mace/mace/tools/arg_parser.py"
MACE_TRAIN = "mdbenchgnn/models/mace/scripts/run_train.py"
EQUIFORMER_SCRIPT = "scripts/train/equiformer/3bpa/3bpa300.sh"
EQUIFORMER_MAIN = "mdbenchgnn/models/equiformer/main_custom.py"
EQUIFORMER_GETE_LOG = "Logs/equiformer/eqf_GeTe.txt"
TORCHMD_CONFIG = "configs/torchmdnet/md17/aspirin/aspirin.yaml"
TORCHMD_LIPS20 = "configs/torchmdnet/lips20/lips20.yaml"
TORCHMD_MODULE = "mdbenchgnn/models/torchmd-net/torchmdnet/module.py"


def _nequip_framework(config: str, lips20: str, lips20_epochs: int, loss_note: str = "") -> dict:
    """NequIP and Allegro share nequip 0.5.6's trainer and these settings in every released config."""
    return {
        "optimizer": Setting("adam", config, "optimizer_name: Adam, betas (0.9, 0.999), eps 1e-8"),
        "amsgrad": Setting(True, config),
        "lr": Setting(0.005, config),
        "weight_decay": Setting(0.0, config),
        "scheduler": Setting({"name": "plateau", "patience": 5, "factor": 0.8, "monitor": "validation_loss"}, config),
        "warmup": Setting(None, config),
        "ema_decay": Setting(0.99, config, "ema_use_num_updates: true (nequip's warm-up of the decay)"),
        "swa": Setting(None, config),
        "loss": Setting({"form": "per_atom_mse", "energy_weight": 1.0, "forces_weight": 1.0}, config, loss_note),
        "batch_size": Setting(1, config, "every released config"),
        "max_epochs": Setting(PerDataset(10000, {"lips20": lips20_epochs}), lips20),
        "early_stopping": Setting(
            PerDataset({"patience": 50, "min_lr": 1e-6, "max_wall_s": 604800},
                       {"lips20": {"patience": 50, "min_lr": 1e-6, "max_wall_s": 259200}}), lips20,
            "validation_loss patience 50, stop when LR < 1e-6 or after the wall time"),
        "grad_clip": Setting(None, config, "max_gradient_norm: null"),
        "r_max": Setting(5.0, config, "every released config"),
        "energy_reference": Setting("per-species shifts = per-atom mean energy, scales = force RMS (trainable)", config,
                                    "per_species_rescale_shifts/scales, per_species_rescale_trainable: true"),
        "dtype": Setting("float32", config),
        "hyperparameters": Setting(PerDataset({}), config, "the same architecture on every dataset"),
    }


def _mace_recipe(config: str, batch: PerDataset, epochs: PerDataset, batch_source: str,
                 hyperparameters: PerDataset = PerDataset({})) -> dict:
    """MACE and BOTNet: the MACE 0.2.0 fork's run_train.py with its defaults and the scripts' flags."""
    return {
        "optimizer": Setting("adam", MACE_PARSER, "--optimizer default adam"),
        "amsgrad": Setting(True, config, "--amsgrad"),
        "lr": Setting(0.01, MACE_PARSER, "--lr default"),
        "weight_decay": Setting(5e-7, MACE_PARSER,
                                f"only on interaction linear/skip weights and products ({MACE_TRAIN})"),
        "scheduler": Setting({"name": "plateau", "patience": 50, "factor": 0.8, "monitor": "validation_loss"},
                             MACE_PARSER, "--scheduler_patience 50, --lr_factor 0.8; validation every 2 epochs"),
        "warmup": Setting(None, MACE_PARSER),
        "ema_decay": Setting(0.99, config, "--ema --ema_decay=0.99 (torch_ema, every step)"),
        "swa": Setting({"start_fraction": 0.75, "lr": 1e-3, "energy_weight": 1000.0, "forces_weight": 1.0}, config,
                       f"--swa: from epoch max_epochs // 4 * 3 the loss and an SWALR schedule (1 linear anneal epoch) "
                       f"switch, and an AveragedModel is updated each epoch ({MACE_TRAIN}, {MACE_PARSER})"),
        "loss": Setting({"form": "mace_weighted", "energy_weight": 1.0, "forces_weight": 10.0}, MACE_PARSER,
                        "--loss weighted, --energy_weight 1, --forces_weight 10"),
        "batch_size": Setting(batch, batch_source, "datasets without a config: 20"),
        "max_epochs": Setting(epochs, batch_source),
        "early_stopping": Setting({"patience": 2048}, MACE_PARSER, "--patience default (epochs without improvement)"),
        "grad_clip": Setting(10.0, MACE_PARSER, "--clip_grad default"),
        "r_max": Setting(PerDataset(5.0, {"gete": 8.0}), "configs/mace/GeTe/GeTe.sh", "5.0 elsewhere"),
        "energy_reference": Setting("fixed E0s dict (not the data's isolated atoms); ScaleShift: mean per-atom "
                                    "interaction energy and force RMS", config, "--E0s; --scaling rms_forces_scaling"),
        "dtype": Setting("float32", config, "--default_dtype=float32"),
        "hyperparameters": Setting(hyperparameters, batch_source),
    }


#: MACE's and BOTNet's --E0s (eV per isolated atom, by atomic number), the same values in every config that has
#: the element (configs/mace/GeTe/GeTe.sh adds Ge and Te); not the datasets' own isolated-atom energies
E0S = Setting({1: -13.663181292231226, 3: -216.78673811801755, 6: -1029.2809654211628, 7: -1484.1187695035828,
               8: -2042.0330099956639, 15: -1537.0898574856286, 16: -1867.8202267974733, 32: -189.3718287987982,
               52: -350.4288989798778}, "configs/mace/md17/aspirin/aspirin.sh, configs/mace/GeTe/GeTe.sh")

RECIPES: dict[str, dict[str, Setting]] = {
    "nequip": _nequip_framework(NEQUIP_CONFIG, NEQUIP_LIPS20, 5000,
                                "configs/nequip/lips20/lips.yaml (19000 training frames: LiPS, not LiPS20) "
                                "weights the forces 6889"),
    "allegro": _nequip_framework(ALLEGRO_CONFIG, ALLEGRO_LIPS20, 10000),
    "mace": _mace_recipe(
        "configs/mace/md17/aspirin/aspirin.sh",
        PerDataset(20, {"md17_naphthalene": 5, "md17_salicylic_acid": 5, "lips20": 10}),
        PerDataset(1500, {"lips": 500, "lips20": 1000}),
        "configs/mace/md17/*/*.sh, configs/mace/lips*/lips.sh, configs/mace/GeTe/GeTe.sh"),
    "botnet": _mace_recipe(
        "configs/botnet/md17/aspirin/aspirin.sh",
        PerDataset(20, {"md17_ethanol": 3, "md17_naphthalene": 2, "md17_salicylic_acid": 1, "lips20": 10}),
        PerDataset(1500, {"md17_naphthalene": 1000, "md17_salicylic_acid": 1000, "lips": 1000, "lips20": 1000}),
        "configs/botnet/md17/*/*.sh, configs/botnet/lips*/lips.sh",
        PerDataset({}, {"md17_naphthalene": {"num_interactions": 4}, "md17_salicylic_acid": {"num_interactions": 4}})),
    "equiformer": {
        "optimizer": Setting("adamw", EQUIFORMER_MAIN, "--opt default adamw (timm create_optimizer)"),
        "amsgrad": Setting(False, EQUIFORMER_MAIN),
        "lr": Setting(5e-4, EQUIFORMER_SCRIPT),
        "weight_decay": Setting(1e-6, EQUIFORMER_SCRIPT, "timm: not on biases, norms and no_weight_decay()"),
        "scheduler": Setting({"name": "cosine", "min_lr": 1e-6, "cooldown_epochs": 10}, EQUIFORMER_MAIN,
                             "timm cosine schedule stepped per epoch"),
        "warmup": Setting({"epochs": 10, "start_lr": 1e-6}, EQUIFORMER_MAIN),
        "ema_decay": Setting(None, EQUIFORMER_MAIN, "--model-ema not set"),
        "swa": Setting(None, EQUIFORMER_MAIN),
        "loss": Setting({"form": "l2mae_standardized", "energy_weight": 1.0,
                         "forces_weight": PerDataset(80.0, {"gete": 1.0})}, EQUIFORMER_SCRIPT,
                        f"GeTe: {EQUIFORMER_GETE_LOG}"),
        "batch_size": Setting(PerDataset(8, {"gete": 1}), EQUIFORMER_SCRIPT, f"GeTe: {EQUIFORMER_GETE_LOG}"),
        "max_epochs": Setting(PerDataset(1500, {"gete": 5000}), "Logs/equiformer/eqf_3bpa.txt",
                              "the launch scripts say 5000; the logged MD17-size runs used 1500"),
        "early_stopping": Setting(None, EQUIFORMER_MAIN),
        "grad_clip": Setting(None, EQUIFORMER_MAIN, "--clip-grad default None"),
        "r_max": Setting(5.0, EQUIFORMER_MAIN, "--radius default"),
        "energy_reference": Setting("standardised by the training set's total-energy mean and std", EQUIFORMER_MAIN),
        "dtype": Setting("float32", EQUIFORMER_MAIN),
        "hyperparameters": Setting(PerDataset({}), EQUIFORMER_SCRIPT, "the same architecture on every dataset"),
    },
    "torchmd-et": {
        "optimizer": Setting("adamw", TORCHMD_MODULE),
        "amsgrad": Setting(False, TORCHMD_MODULE),
        "lr": Setting(1e-3, TORCHMD_CONFIG),
        "weight_decay": Setting(0.0, TORCHMD_CONFIG),
        "scheduler": Setting({"name": "plateau", "patience": 30, "factor": 0.8, "min_lr": 1e-7, "monitor": "val_loss"},
                             TORCHMD_CONFIG),
        "warmup": Setting({"steps": 1000, "start_lr": 0.0}, TORCHMD_CONFIG, f"linear in steps ({TORCHMD_MODULE})"),
        "ema_decay": Setting(None, TORCHMD_CONFIG, "ema_alpha_* smooth the loss terms, not the weights"),
        "swa": Setting(None, TORCHMD_CONFIG),
        "loss": Setting({"form": "mse_ema_smoothed", "energy_weight": PerDataset(0.2, {"lips20": 0.5}),
                         "forces_weight": PerDataset(0.8, {"lips20": 0.5}), "energy_alpha": 0.05,
                         "forces_alpha": 1.0}, TORCHMD_CONFIG, f"y_weight, neg_dy_weight; LiPS20: {TORCHMD_LIPS20}"),
        "batch_size": Setting(8, TORCHMD_CONFIG, "every released config"),
        "max_epochs": Setting(5000, TORCHMD_CONFIG),
        "early_stopping": Setting({"patience": 300}, TORCHMD_CONFIG),
        "grad_clip": Setting(None, TORCHMD_CONFIG),
        "r_max": Setting(5.0, TORCHMD_CONFIG, "cutoff_upper; max_num_neighbors 32 (LiPS20 50): the model's "
                                              "study_graph hyperparameters"),
        "energy_reference": Setting("standardize: true (training-set energy mean and std), no prior", TORCHMD_CONFIG),
        "dtype": Setting("float32", TORCHMD_CONFIG, "precision: 32"),
        "hyperparameters": Setting(PerDataset({}, {"lips20": {"max_num_neighbors": 50}}), TORCHMD_LIPS20,
                                   "max_num_neighbors; it applies to the study's graph (study_graph: true)"),
    },
}


def setting(architecture: str, key: str, dataset: str | None = None) -> Any:
    """The value of one recipe setting (resolved for ``dataset`` where it differs between datasets)."""
    if architecture not in RECIPES:
        raise ValueError(f"no study recipe for {architecture!r}; recipes exist for {', '.join(RECIPES)}")
    recipe = RECIPES[architecture]
    if key not in recipe:
        raise ValueError(f"recipe settings are {', '.join(recipe)}; got {key!r}")

    def resolve(value):
        if isinstance(value, PerDataset):
            return value.get(dataset) if dataset is not None else value.default
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    return resolve(recipe[key].value)
