"""One training engine for every egraff architecture (PyTorch Lightning); see ``engine``."""

from egraff.train.config import DEFAULTS, ConfigError, load_config
from egraff.train.engine import TrainResult, train

__all__ = ["DEFAULTS", "ConfigError", "TrainResult", "load_config", "train"]
