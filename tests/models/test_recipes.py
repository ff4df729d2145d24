"""The study's training recipes (egraff.models.recipes): one table per architecture, every setting with its
source in the study's release, resolvable for every dataset."""

from __future__ import annotations

import pytest

from egraff.data import dataset_names
from egraff.models import ARCHITECTURES
from egraff.models.recipes import RECIPES, setting


def test_every_architecture_has_the_same_settings_with_sources():
    assert set(RECIPES) == set(ARCHITECTURES)
    keys = set(RECIPES["nequip"])
    for architecture, recipe in RECIPES.items():
        assert set(recipe) == keys, architecture
        for key, entry in recipe.items():
            assert entry.source.split("/")[0] in ("configs", "scripts", "mdbenchgnn", "Logs"), (architecture, key)
            for dataset in dataset_names():
                setting(architecture, key, dataset)


@pytest.mark.parametrize("architecture, key, dataset, value", [
    ("mace", "r_max", "gete", 8.0),
    ("mace", "r_max", "md17_aspirin", 5.0),
    ("botnet", "batch_size", "md17_salicylic_acid", 1),
    ("nequip", "scheduler", "3bpa", {"name": "plateau", "patience": 5, "factor": 0.8, "monitor": "validation_loss"}),
    ("equiformer", "loss", "gete", {"form": "l2mae_standardized", "energy_weight": 1.0, "forces_weight": 1.0}),
    ("torchmd-et", "loss", "lips20", {"form": "mse_ema_smoothed", "energy_weight": 0.5, "forces_weight": 0.5,
                                      "energy_alpha": 0.05, "forces_alpha": 1.0}),
])
def test_per_dataset_values(architecture, key, dataset, value):
    assert setting(architecture, key, dataset) == value


def test_unknown_names_are_explained():
    with pytest.raises(ValueError, match="no study recipe for 'schnet'"):
        setting("schnet", "lr")
    with pytest.raises(ValueError, match="got 'learning_rate'"):
        setting("mace", "learning_rate")
