"""Configuration: defaults by family, YAML loading with `_BASE_`, overrides, validation."""

from .defaults import get_defaults
from .load import ConfigError, load_config, merge_overrides, save_config, to_dict
from .validate import validate

__all__ = [
    "ConfigError",
    "get_defaults",
    "load_config",
    "merge_overrides",
    "save_config",
    "to_dict",
    "validate",
]
