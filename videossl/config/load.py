"""Load configs: defaults, YAML files with `_BASE_` inheritance, command-line overrides."""

from __future__ import annotations

import difflib
import os
from typing import Any, Iterable, Sequence

import yaml
from fvcore.common.config import CfgNode

from .defaults import get_defaults

BASE_KEY = "_BASE_"


class ConfigError(ValueError):
    """A config that cannot be used: unknown key, bad value or broken cross-field rule."""


def _all_keys(node: CfgNode, prefix: str = "") -> list[str]:
    keys = []
    for k, v in node.items():
        full = f"{prefix}{k}"
        keys.append(full)
        if isinstance(v, CfgNode):
            keys.extend(_all_keys(v, full + "."))
    return keys


def unknown_key_error(key: str, defaults: CfgNode, source: str) -> ConfigError:
    """An error naming `key` and the closest valid key."""
    valid = _all_keys(defaults)
    section, _, leaf = key.rpartition(".")
    siblings = [k for k in valid if k.rpartition(".")[0] == section]
    close = [
        f"{section}.{m}" if section else m
        for m in difflib.get_close_matches(
            leaf, [k.rpartition(".")[2] for k in siblings], n=1, cutoff=0.6
        )
    ] or difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"Unknown config key '{key}' (from {source}).{hint}")


def _check_keys(tree: dict, defaults: CfgNode, source: str, prefix: str = "") -> None:
    for k, v in tree.items():
        full = f"{prefix}{k}"
        if k == BASE_KEY and not prefix:
            continue
        if k not in defaults:
            raise unknown_key_error(full, get_defaults(), source)
        if isinstance(v, dict):
            if not isinstance(defaults[k], CfgNode):
                raise ConfigError(f"Config key '{full}' (from {source}) is a value, not a section.")
            _check_keys(v, defaults[k], source, full + ".")


def _read_yaml(path: str, seen: tuple[str, ...] = ()) -> dict:
    """Read one YAML file, resolving `_BASE_` (a path or list of paths, relative to the file)."""
    if not os.path.isfile(path):
        raise ConfigError(f"Config file not found: {path}")
    if os.path.abspath(path) in seen:
        raise ConfigError(f"Config file {path} inherits from itself through _BASE_.")
    with open(path) as f:
        try:
            tree = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"Config file {path} is not valid YAML: {e}") from e
    if not isinstance(tree, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of keys.")
    bases = tree.pop(BASE_KEY, [])
    bases = [bases] if isinstance(bases, str) else list(bases)
    merged: dict = {}
    for base in bases:
        base_path = base if os.path.isabs(base) else os.path.join(os.path.dirname(path), base)
        _deep_update(merged, _read_yaml(base_path, seen + (os.path.abspath(path),)))
    _deep_update(merged, tree)
    return merged


def _deep_update(dst: dict, src: dict) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_update(dst[k], v)
        else:
            dst[k] = v


def merge_file(cfg: CfgNode, path: str) -> None:
    tree = _read_yaml(path)
    _check_keys(tree, cfg, path)
    cfg.merge_from_other_cfg(CfgNode(tree))


def merge_overrides(cfg: CfgNode, opts: Sequence[str]) -> None:
    """Apply `KEY VALUE` pairs from the command line."""
    if len(opts) % 2:
        raise ConfigError(
            f"Overrides must be KEY VALUE pairs; got an odd number of items: {list(opts)}"
        )
    for key, value in zip(opts[0::2], opts[1::2]):
        node = cfg
        parts = key.split(".")
        for part in parts[:-1]:
            if part not in node or not isinstance(node[part], CfgNode):
                raise unknown_key_error(key, get_defaults(), "the command line")
            node = node[part]
        if parts[-1] not in node:
            raise unknown_key_error(key, get_defaults(), "the command line")
        try:
            cfg.merge_from_list([key, value])
        except (ValueError, AssertionError) as e:
            raise ConfigError(f"Bad value for '{key}' on the command line: {e}") from e


def load_config(files: Iterable[str] = (), opts: Sequence[str] = ()) -> CfgNode:
    """Defaults, then each YAML file in order, then overrides; validated; frozen."""
    from .validate import validate

    cfg = get_defaults()
    for path in files:
        merge_file(cfg, path)
    merge_overrides(cfg, list(opts))
    validate(cfg)
    cfg.freeze()
    return cfg


def save_config(cfg: CfgNode, path: str) -> None:
    """Write the resolved config as YAML."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(cfg.dump())


def to_dict(cfg: CfgNode) -> dict[str, Any]:
    return yaml.safe_load(cfg.dump())
