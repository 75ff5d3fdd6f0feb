"""Training checkpoints: atomic writes, newest-complete lookup, retention."""

from __future__ import annotations

import glob
import logging
import os
import re
import tempfile
from typing import Any

import torch

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^checkpoint_e(\d+)_i(\d+)\.pyth$")
COMPLETE_KEY = "videossl_checkpoint_complete"


def checkpoint_dir(output_dir: str) -> str:
    return os.path.join(output_dir, "checkpoints")


def checkpoint_name(epoch: int, iteration: int) -> str:
    """`epoch` completed epochs, plus `iteration` optimiser steps into the next one."""
    return f"checkpoint_e{epoch:05d}_i{iteration:07d}.pyth"


class NonFiniteError(ValueError):
    """A state to be saved holds NaN or inf (weights, optimiser state or EMA)."""


def first_non_finite(obj: Any, prefix: str = "") -> str | None:
    """The key path of the first floating tensor in `obj` with a NaN or inf, else None."""
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() and not bool(torch.isfinite(obj).all()):
            return prefix or "<tensor>"
        return None
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return None
    for key, value in items:
        found = first_non_finite(value, f"{prefix}.{key}" if prefix else str(key))
        if found:
            return found
    return None


def check_finite(state: dict[str, Any], keys=("model", "optimizer", "ema")) -> None:
    """Raise NonFiniteError naming the first non-finite entry of the weights, optimiser or EMA."""
    for key in keys:
        found = first_non_finite(state.get(key), key)
        if found:
            raise NonFiniteError(f"non-finite values in {found}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def clean_stale_temps(directory: str) -> list[str]:
    """Remove temp files left by writers killed mid-save (`.tmp_*.pyth`); returns them."""
    removed = []
    for path in glob.glob(os.path.join(directory, ".tmp_*.pyth")):
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    if removed:
        logger.info("Removed %d temp file(s) of interrupted checkpoint writes", len(removed))
    return removed


def save_atomic(state: dict[str, Any], path: str, *, check: bool = True) -> None:
    """Write `state` to a temporary file in the same folder, then rename it into place.

    With `check`, a state holding NaN/inf in its weights, optimiser state or EMA is refused
    (NonFiniteError) and nothing is written. The file's mode follows the umask."""
    if check:
        check_finite(state)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    state = dict(state)
    state[COMPLETE_KEY] = True
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".pyth", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def list_checkpoints(directory: str) -> list[str]:
    """Checkpoints in `directory`, oldest first (by epoch, then iteration)."""
    found = []
    for path in glob.glob(os.path.join(directory, "checkpoint_e*_i*.pyth")):
        m = _NAME.match(os.path.basename(path))
        if m:
            found.append(((int(m.group(1)), int(m.group(2))), path))
    return [p for _, p in sorted(found)]


def load(path: str) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


def newest_complete(directory: str) -> tuple[str, dict[str, Any]] | None:
    """The newest checkpoint that loads and carries the completion mark; broken ones are logged."""
    for path in reversed(list_checkpoints(directory)):
        try:
            state = load(path)
        except Exception as e:  # a truncated file from a killed writer
            logger.warning("Skipping unreadable checkpoint %s: %s", path, e)
            continue
        if state.get(COMPLETE_KEY):
            return path, state
        logger.warning("Skipping incomplete checkpoint %s", path)
    return None


def _step_of(state: dict[str, Any]) -> int:
    return int(state.get("global_step", 0))


def newest_finite_before(directory: str, step: int) -> tuple[str, dict[str, Any]] | None:
    """The newest complete checkpoint with global_step < `step` and finite contents."""
    for path in reversed(list_checkpoints(directory)):
        try:
            state = load(path)
        except Exception as e:
            logger.warning("Skipping unreadable checkpoint %s: %s", path, e)
            continue
        if not state.get(COMPLETE_KEY) or _step_of(state) >= step:
            continue
        try:
            check_finite(state)
        except NonFiniteError as e:
            logger.warning("Skipping checkpoint %s: %s", path, e)
            continue
        return path, state
    return None


def prune(directory: str, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints (keep <= 0 keeps everything)."""
    if keep <= 0:
        return
    for path in list_checkpoints(directory)[:-keep]:
        os.remove(path)


def resolve(path: str) -> str:
    """A checkpoint file, or the newest complete one in a run or checkpoint folder."""
    if os.path.isfile(path):
        return path
    for directory in (checkpoint_dir(path), path):
        if os.path.isdir(directory):
            found = newest_complete(directory)
            if found:
                return found[0]
    raise FileNotFoundError(
        f"No checkpoint at '{path}': give a checkpoint file, or a run/checkpoints folder that "
        "holds one (train first, or fix the path)."
    )
