"""PySlowFast YAML configs -> videossl configs (``--cfg`` auto-detects them).

Every key that PySlowFast's MaskFeat / MAE (``configs/masked_ssl``), MViTv2 Kinetics / SSv2 and
AVA configs use has one entry in ``TABLE``: the videossl key(s) it becomes, or why it needs
none. A key whose value videossl cannot reproduce, or a key missing from the table, is an
error; all of them are reported in one message.

Keys whose names match but whose meaning differs are converted exactly:

- ``TRAIN.BATCH_SIZE`` / ``TEST.BATCH_SIZE``: PySlowFast divides them by ``NUM_GPUS`` only, so
  they count the clips of one node (shard). videossl's batch is global:
  ``BATCH_SIZE x NUM_SHARDS``.
- ``SOLVER.BASE_LR``: PySlowFast uses the rate as written, multiplied by ``NUM_SHARDS`` (with
  ``WARMUP_START_LR`` and ``COSINE_END_LR``) when ``SOLVER.BASE_LR_SCALE_NUM_SHARDS`` is set.
  videossl's rate is per ``SOLVER.REFERENCE_BATCH`` clips and scales linearly with the global
  batch. The translation sets ``REFERENCE_BATCH`` to one node's clips (scaled by shards) or to
  the whole batch (not scaled), so the effective rate is the same at any node count, and
  ``SOLVER.SCALE_MIN_LR`` scales the warm-up and final rates with it.
- ``AUG.NUM_SAMPLE`` (repeated augmentation): PySlowFast's batch counts videos, each giving
  ``NUM_SAMPLE`` clips; so does videossl's (``DATA.NUM_REPEATED_SAMPLES``), and both learning
  rates count clips, so ``REFERENCE_BATCH`` includes the factor.
- ``DATA.REVERSE_INPUT_CHANNEL``: PySlowFast normalises RGB and then reverses the channels;
  videossl reverses the decoded frames (``DATA.INPUT_CHANNEL_ORDER: bgr``) and normalises with
  the reversed mean/std: the same numbers.

Layout: the key table and PySlowFast's defaults are in ``pyslowfast_table``, the conversions of
several keys in ``pyslowfast_derive`` (encoder keys: ``pyslowfast_encoder``); this module
detects PySlowFast files and applies the table.
"""

from __future__ import annotations

import ast
from typing import Any

from ..config.load import ConfigError
from .pyslowfast_derive import derive
from .pyslowfast_table import DEFAULTS, DIFFERENT_DEFAULTS, TABLE, Reader, Rule, as_list

__all__ = [
    "DEFAULTS",
    "TABLE",
    "Rule",
    "flatten",
    "is_pyslowfast",
    "set_value",
    "to_tree",
    "translate",
]

# Top-level sections or keys that only PySlowFast configs have.
_MARKERS = ("TASK", "DATA_LOADER", "AUG", "MIXUP", "BN", "DETECTION", "PREFETCH", "LOG_MODEL_INFO")
_MARKER_LEAVES = {
    "TRAIN": ("DATASET", "MIXED_PRECISION", "CHECKPOINT_TYPE", "CHECKPOINT_EPOCH_RESET"),
    "SOLVER": ("OPTIMIZING_METHOD", "BASE_LR_SCALE_NUM_SHARDS", "COSINE_END_LR", "LR_POLICY"),
    "MODEL": ("MODEL_NAME", "LOSS_FUNC", "DROPOUT_RATE"),
    "MVIT": ("DEPTH", "PATCH_KERNEL", "DIM_MUL", "POOL_Q_STRIDE", "DROPPATH_RATE"),
    "TEST": ("DATASET", "NUM_TEMPORAL_CLIPS"),
}


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"A": {"B": 1}} -> {"A.B": 1} (YAML "None" strings become None, as PySlowFast reads them)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = None if v == "None" else v
    return out


def is_pyslowfast(tree: dict) -> bool:
    """Whether a YAML mapping is written in PySlowFast's key space."""
    if any(k in tree for k in _MARKERS):
        return True
    for section, leaves in _MARKER_LEAVES.items():
        node = tree.get(section)
        if isinstance(node, dict) and any(leaf in node for leaf in leaves):
            return True
    return False


def translate(tree: dict, source: str = "a PySlowFast config") -> dict[str, Any]:
    """PySlowFast mapping -> videossl {dotted key: value}; ConfigError listing every key
    that has no equivalent (unknown, or a value videossl cannot reproduce)."""
    flat = flatten(tree)
    get = Reader(flat)
    out: dict[str, Any] = {}
    bad: list[str] = []
    for key, value in flat.items():
        rule = TABLE.get(key)
        if rule is None:
            bad.append(f"{key}: no equivalent in videossl")
        elif rule.kind == "same":
            out[key] = value
        elif rule.kind == "rename":
            try:
                out[rule.to] = rule.fn(value) if rule.fn else value
            except (KeyError, ValueError, SyntaxError):
                bad.append(f"{key}: value {value!r} has no equivalent")
        elif rule.kind == "fixed" and rule.expect is not None:
            have = as_list(value) if isinstance(rule.expect, list) else value
            if have != rule.expect:
                bad.append(f"{key}: {value!r} (videossl: {rule.expect!r}, {rule.why})")
    for ours, theirs in DIFFERENT_DEFAULTS.items():
        if theirs not in flat:
            out[ours] = DEFAULTS[theirs]
    try:
        derive(get, flat, out, bad)
    except (TypeError, ValueError, KeyError, IndexError) as e:
        bad.append(f"(conversion stopped: {e})")
    if bad:
        lines = "\n".join(f"  {b}" for b in bad)
        raise ConfigError(
            f"{len(bad)} PySlowFast key(s) in {source} have no videossl equivalent:\n{lines}"
        )
    return out


def set_value(tree: dict, key: str, text: str) -> None:
    """Set dotted `key` of a PySlowFast mapping from command-line text (a Python literal, as
    PySlowFast's merge_from_list reads it, or a plain string)."""
    try:
        value = ast.literal_eval(text) if isinstance(text, str) else text
    except (ValueError, SyntaxError):
        value = text
    _set_dotted(tree, key, value)


def to_tree(flat: dict[str, Any]) -> dict:
    """{"A.B": 1} -> {"A": {"B": 1}}."""
    tree: dict = {}
    for key, value in flat.items():
        _set_dotted(tree, key, value)
    return tree


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    """tree["A"]["B"] = value for key "A.B", creating the missing levels."""
    node = tree
    *parents, leaf = key.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
