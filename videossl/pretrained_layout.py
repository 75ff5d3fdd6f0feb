"""Checkpoint layouts: read a checkpoint, unwrap its state dict, detect whose layout it is
(ours, VideoMAE, mae_st, PySlowFast) and convert it to our layout (`encoder.`/`head.`/
`decoder.` keys). `videossl.pretrained.load_pretrained` then fits it to a model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Union

import torch
from torch import Tensor

from .peers import rename_prefix
from .peers.mae_st import convert_mae_st, convert_pyslowfast_vit
from .peers.videomae import convert_videomae

logger = logging.getLogger(__name__)

__all__ = [
    "FORMATS",
    "detect_format",
    "looks_like_mvit",
    "read_checkpoint",
    "to_our_layout",
    "unwrap_state",
]

FORMATS = ("auto", "ours", "videomae", "mae_st", "pyslowfast")
_WRAPPERS = ("model", "module", "model_state", "state_dict")
_STRIP = ("module.", "_orig_mod.")


def read_checkpoint(source: Union[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    """A checkpoint dict from a path (weights-only unpickling first) or the dict itself."""
    if not isinstance(source, str):
        return source
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"pretrained checkpoint not found: {source}") from e
    except Exception:  # noqa: BLE001 - e.g. PySlowFast pickles its cfg object
        logger.warning("%s holds non-tensor objects; loading it with full unpickling", source)
        return torch.load(source, map_location="cpu", weights_only=False)


def unwrap_state(ckpt: Mapping[str, Any]) -> tuple[dict[str, Tensor], set[str]]:
    """(flat state dict without wrapper keys and DDP/compile prefixes, wrappers seen)."""
    seen: set[str] = set()
    while True:
        key = next((k for k in _WRAPPERS if isinstance(ckpt.get(k), Mapping)), None)
        if key is None:
            break
        seen.add(key)
        ckpt = ckpt[key]
    state = {}
    for k, v in ckpt.items():
        if not torch.is_tensor(v):
            continue
        while k.startswith(_STRIP):
            k = k.split(".", 1)[1]
        state[k.replace("._orig_mod.", ".")] = v
    if not state:
        raise ValueError(
            f"checkpoint holds no tensors under any of the keys {_WRAPPERS} or at the top level"
        )
    return state, seen


def detect_format(state: Mapping[str, Tensor], wrappers: set[str]) -> str:
    """Guess the layout: "pyslowfast", "mae_st", "ours" or "videomae" (bare encoder keys)."""
    if "model_state" in wrappers:
        return "pyslowfast"
    if any(k.endswith(".attn.q.weight") for k in state):
        return "mae_st"
    top = {k.split(".", 1)[0] for k in state}
    if "encoder" in top and top <= {"encoder", "head", "decoder"}:
        return "ours"
    return "videomae"


def looks_like_mvit(state: Mapping[str, Tensor]) -> bool:
    """True for MViT weights (pooling / relative-position keys or a 3x7x7 conv stem)."""
    stem = state.get("patch_embed.proj.weight")
    pooled = any(".attn.pool_" in k or ".rel_pos_" in k for k in state)
    return pooled or (stem is not None and tuple(stem.shape[2:]) == (3, 7, 7))


def to_our_layout(
    ckpt: Mapping[str, Any], fmt: str = "auto", *, vit: bool | None = None
) -> tuple[dict[str, Tensor], str]:
    """Convert a loaded checkpoint to our layout (`encoder.`/`head.`/`decoder.` keys).

    vit: for PySlowFast checkpoints, whether the target encoder is a ViT (MAE-ViT layout) or an
    MViT (None: guessed from the keys).
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt={fmt!r}: use one of {FORMATS}")
    state, wrappers = unwrap_state(ckpt)
    if fmt == "auto":
        fmt = detect_format(state, wrappers)
    if fmt == "ours":
        if not any(k.startswith(("encoder.", "backbone.")) for k in state):
            return {"encoder." + k: v for k, v in state.items()}, fmt  # a bare encoder
        return rename_prefix(state, "backbone.", "encoder."), fmt
    if fmt == "videomae":
        return convert_videomae(state), fmt
    if fmt == "mae_st":
        return convert_mae_st(state), fmt
    if vit if vit is not None else not looks_like_mvit(state):
        return convert_pyslowfast_vit(state), fmt
    from .peers.pyslowfast import convert_pyslowfast, convert_pyslowfast_head

    out = {"encoder." + k: v for k, v in convert_pyslowfast(state).items()}
    kind, head = convert_pyslowfast_head(state)
    names = {"classification": "head.fc.", "maskfeat": "head.proj."}
    out.update({names[kind] + k: v for k, v in head.items()} if kind in names else {})
    return out, fmt
