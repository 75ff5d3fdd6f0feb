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


# Well-known names from PySlowFast, VideoMAE and mae_st for keys this project spells
# differently: an unknown key that is one of these gets its real name as the hint (string
# similarity alone matches e.g. TRAIN.MIXED_PRECISION to TRAIN.EVAL_PERIOD). A whole
# PySlowFast file is translated instead (videossl/peers/pyslowfast_config.py).
ALIASES = {
    "TRAIN.MIXED_PRECISION": "TRAIN.AMP",
    "TRAIN.DATASET": "DATA.DATASET",
    "TEST.DATASET": "DATA.DATASET",
    "TEST.NUM_TEMPORAL_CLIPS": "TEST.NUM_ENSEMBLE_VIEWS",
    "SOLVER.OPTIMIZING_METHOD": "SOLVER.OPTIMIZER",
    "SOLVER.COSINE_END_LR": "SOLVER.MIN_LR",
    "SOLVER.CLIP_GRAD_L2NORM": "SOLVER.CLIP_GRAD",
    "SOLVER.LR": "SOLVER.BASE_LR",
    "SOLVER.BLR": "SOLVER.BASE_LR",
    "SOLVER.WARMUP_LR": "SOLVER.WARMUP_START_LR",
    "SOLVER.EPOCHS": "SOLVER.MAX_EPOCH",
    "DATA_LOADER.NUM_WORKERS": "DATA.NUM_WORKERS",
    "DATA_LOADER.PIN_MEMORY": "DATA.PIN_MEMORY",
    "DATA.DECODING_BACKEND": "DATA.DECODER",
    "DATA.DECODING_SHORT_SIZE": "DATA.DECODE_SHORT_SIDE",
    "DATA.REVERSE_INPUT_CHANNEL": "DATA.INPUT_CHANNEL_ORDER",
    "DATA.INPUT_CHANNEL_NUM": "",
    "MVIT.DROPPATH_RATE": "MODEL.DROP_PATH",
    "MVIT.DROPOUT_RATE": "MODEL.DROPOUT",
    "MVIT.HEAD_INIT_SCALE": "MODEL.HEAD_INIT_SCALE",
    "MVIT.CLS_EMBED_ON": "MVIT.CLS_TOKEN",
    "MVIT.USE_ABS_POS": "MVIT.ABS_POS_EMBED",
    "MVIT.POOL_KVQ_KERNEL": "MVIT.POOL_KERNEL",
    "MVIT.POOL_KV_STRIDE_ADAPTIVE": "MVIT.POOL_KV_STRIDE",
    "MODEL.DROPOUT_RATE": "MODEL.DROPOUT",
    "MODEL.LOSS_FUNC": "MODEL.LOSS",
    "MODEL.MODEL_NAME": "MODEL.ARCH",
    "MODEL.DROP_PATH_RATE": "MODEL.DROP_PATH",
    "AUG.AA_TYPE": "DATA.RAND_AUGMENT",
    "AUG.RE_PROB": "DATA.RANDOM_ERASING",
    "AUG.NUM_SAMPLE": "DATA.NUM_REPEATED_SAMPLES",
    "AUG.MASK_RATIO": "MASK.RATIO",
    "MIXUP.ALPHA": "TRAIN.MIXUP",
    "MIXUP.CUTMIX_ALPHA": "TRAIN.CUTMIX",
    "MIXUP.LABEL_SMOOTH_VALUE": "MODEL.LABEL_SMOOTHING",
    "MASK.MAE_ON": "MODEL.OBJECTIVE",
    "MASK.DECODER_EMBED_DIM": "MODEL.DECODER_DIM",
    "MASK.DECODER_DEPTH": "MODEL.DECODER_DEPTH",
    "MASK.MASK_RATIO": "MASK.RATIO",
    "MASK.MASK_TYPE": "MASK.TYPE",
}


def _hint(key: str, valid: list[str]) -> str:
    alias = ALIASES.get(key)
    if alias is not None:
        if not alias:
            return " It has no equivalent here."
        return f" Did you mean '{alias}'?"
    section, _, leaf = key.rpartition(".")
    siblings = [k for k in valid if k.rpartition(".")[0] == section]
    close = [
        f"{section}.{m}" if section else m
        for m in difflib.get_close_matches(
            leaf, [k.rpartition(".")[2] for k in siblings], n=1, cutoff=0.6
        )
    ] or difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown_key_error(key: str, defaults: CfgNode, source: str) -> ConfigError:
    """An error naming `key` and the closest valid key."""
    return unknown_keys_error([key], defaults, source)


def unknown_keys_error(keys: Sequence[str], defaults: CfgNode, source: str) -> ConfigError:
    """One error naming every key in `keys`, each with its alias or closest valid key."""
    valid = _all_keys(defaults)
    if len(keys) == 1:
        hint = _hint(keys[0], valid)
        return ConfigError(f"Unknown config key '{keys[0]}' (from {source}).{hint}")
    lines = [f"  {k}{_hint(k, valid)}" for k in keys]
    return ConfigError(f"{len(keys)} unknown config keys (from {source}):\n" + "\n".join(lines))


def _unknown_keys(tree: dict, defaults: CfgNode, source: str, prefix: str = "") -> list[str]:
    """Every key of `tree` that `defaults` lacks (a section is reported, not its children)."""
    unknown = []
    for k, v in tree.items():
        full = f"{prefix}{k}"
        if k == BASE_KEY and not prefix:
            continue
        if k not in defaults:
            unknown.append(full)
            continue
        if isinstance(v, dict):
            if not isinstance(defaults[k], CfgNode):
                raise ConfigError(f"Config key '{full}' (from {source}) is a value, not a section.")
            unknown.extend(_unknown_keys(v, defaults[k], source, full + "."))
    return unknown


def _check_keys(tree: dict, defaults: CfgNode, source: str, prefix: str = "") -> None:
    unknown = _unknown_keys(tree, defaults, source, prefix)
    if unknown:
        raise unknown_keys_error(unknown, get_defaults(), source)


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


CFG_FORMATS = ("auto", "videossl", "pyslowfast")


def read_config_tree(
    path: str, cfg_format: str = "auto", opts: Sequence[str] = (), consumed: set | None = None
) -> dict:
    """A YAML file as a videossl mapping; PySlowFast files (detected with "auto", or forced with
    "pyslowfast") are translated (videossl/peers/pyslowfast_config.py).

    For a PySlowFast file, the overrides in `opts` whose keys PySlowFast knows (e.g.
    NUM_SHARDS, TRAIN.BATCH_SIZE, SOLVER.BASE_LR) are applied to it before translation, with
    PySlowFast's meaning; their keys are added to `consumed`."""
    if cfg_format not in CFG_FORMATS:
        raise ConfigError(f"Config format must be one of {CFG_FORMATS}, got {cfg_format!r}.")
    tree = _read_yaml(path)
    if cfg_format == "videossl":
        return tree
    from ..peers import pyslowfast_config as psf

    if cfg_format == "pyslowfast" or psf.is_pyslowfast(tree):
        for key, value in zip(opts[0::2], opts[1::2]):
            if key in psf.TABLE:
                psf.set_value(tree, key, value)
                if consumed is not None:
                    consumed.add(key)
        return psf.to_tree(psf.translate(tree, path))
    return tree


def merge_file(
    cfg: CfgNode,
    path: str,
    cfg_format: str = "auto",
    opts: Sequence[str] = (),
    consumed: set | None = None,
) -> None:
    tree = read_config_tree(path, cfg_format, opts, consumed)
    _check_keys(tree, cfg, path)
    cfg.merge_from_other_cfg(CfgNode(tree))


def _has_key(cfg: CfgNode, key: str) -> bool:
    node = cfg
    parts = key.split(".")
    for part in parts[:-1]:
        if part not in node or not isinstance(node[part], CfgNode):
            return False
        node = node[part]
    return parts[-1] in node


def merge_overrides(cfg: CfgNode, opts: Sequence[str]) -> None:
    """Apply `KEY VALUE` pairs from the command line."""
    if len(opts) % 2:
        raise ConfigError(
            f"Overrides must be KEY VALUE pairs; got an odd number of items: {list(opts)}"
        )
    pairs = list(zip(opts[0::2], opts[1::2]))
    unknown = [key for key, _ in pairs if not _has_key(cfg, key)]
    if unknown:
        raise unknown_keys_error(unknown, get_defaults(), "the command line")
    for key, value in pairs:
        try:
            cfg.merge_from_list([key, value])
        except (ValueError, AssertionError) as e:
            raise ConfigError(f"Bad value for '{key}' on the command line: {e}") from e


def load_config(
    files: Iterable[str] = (), opts: Sequence[str] = (), cfg_format: str = "auto"
) -> CfgNode:
    """Defaults, then each YAML file in order (PySlowFast files translated, see
    read_config_tree), then overrides; validated; frozen."""
    from .validate import validate

    cfg = get_defaults()
    opts = list(opts)
    consumed: set = set()
    for path in files:
        merge_file(cfg, path, cfg_format, opts, consumed)
    if consumed:  # applied to a PySlowFast file before its translation
        pairs = [(k, v) for k, v in zip(opts[0::2], opts[1::2]) if k not in consumed]
        opts = [x for pair in pairs for x in pair]
    merge_overrides(cfg, opts)
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
