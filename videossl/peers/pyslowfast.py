"""PySlowFast MViTv2 / MaskFeat checkpoints -> videossl's MViT encoder.

PySlowFast saves `{'epoch', 'model_state', 'optimizer_state', 'cfg', ...}`. Its `MViT`
(supervised or fine-tuned) and `MaskMViT` (MaskFeat pretraining) use the parameter names that
`videossl.models.mvit.MViT` uses, so conversion is prefix handling plus a few layout changes:

- `module.` (DDP) and `_checkpoint_wrapped_module.` (fairscale activation checkpointing) are
  stripped;
- separate `attn.q/k/v` (PySlowFast `SEPARATE_QKV` / `POOL_FIRST` layouts) are fused into
  `attn.qkv` in (q, k, v) order;
- separable absolute position embeddings (`pos_embed_spatial/temporal/class`) become one joint
  `pos_embed` [1, P+t*h*w, C];
- MaskFeat pretraining has no final `norm`: its prediction head's LayerNorm
  (`pred_head.transforms.0.0`) is exactly the norm after the last block, so it becomes `norm`;
  the head's Linear (`pred_head.projections.0`) and the classifier (`head.projection`) are not
  encoder weights: `convert_pyslowfast_head` returns them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import torch

from videossl.models.mvit_attention import resize_rel_pos

logger = logging.getLogger(__name__)

__all__ = ["convert_pyslowfast", "convert_pyslowfast_head", "fit_rel_pos", "pyslowfast_state"]

_DROP_PREFIXES = ("module.", "_orig_mod.")
_HEAD_KEYS = {
    "head.projection.weight": ("classification", "weight"),
    "head.projection.bias": ("classification", "bias"),
    "pred_head.projections.0.weight": ("maskfeat", "weight"),
    "pred_head.projections.0.bias": ("maskfeat", "bias"),
}
_ENCODER_KEY = re.compile(
    r"^(patch_embed\.proj\.(weight|bias)|cls_token|mask_token|pos_embed|norm\.(weight|bias)"
    r"|blocks\.\d+\.(norm1|norm2|proj|mlp\.fc1|mlp\.fc2|attn\.qkv|attn\.proj"
    r"|attn\.norm_[qkv])\.(weight|bias)"
    r"|blocks\.\d+\.attn\.pool_[qkv]\.weight|blocks\.\d+\.attn\.rel_pos_[thw])$"
)


def pyslowfast_state(ckpt: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """The model state of a PySlowFast checkpoint with wrapper prefixes removed."""
    state = ckpt.get("model_state", ckpt)
    if not isinstance(state, Mapping):
        raise ValueError(
            "not a PySlowFast checkpoint: expected a dict with 'model_state' (a state dict); "
            f"got keys {sorted(ckpt)[:10]}"
        )
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for prefix in _DROP_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        out[key.replace("_checkpoint_wrapped_module.", "")] = value
    return out


def _fuse_qkv(state: dict[str, torch.Tensor]) -> None:
    for key in [k for k in state if re.search(r"\.attn\.q\.(weight|bias)$", k)]:
        stem, kind = key.rsplit(".q.", 1)
        parts = [state.pop(f"{stem}.{name}.{kind}") for name in ("q", "k", "v")]
        state[f"{stem}.qkv.{kind}"] = torch.cat(parts, dim=0)


def _join_pos_embed(state: dict[str, torch.Tensor]) -> None:
    if "pos_embed_spatial" not in state:
        return
    spatial = state.pop("pos_embed_spatial")  # [1, h*w, C]
    temporal = state.pop("pos_embed_temporal")  # [1, t, C]
    joint = spatial.repeat(1, temporal.shape[1], 1) + temporal.repeat_interleave(
        spatial.shape[1], dim=1
    )
    if "pos_embed_class" in state:
        joint = torch.cat((state.pop("pos_embed_class"), joint), dim=1)
    state["pos_embed"] = joint


def convert_pyslowfast(ckpt: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """Encoder weights of a PySlowFast MViTv2/MaskFeat checkpoint, in `MViT`'s key names.

    ckpt: the loaded checkpoint (`{'model_state': ...}`) or a bare state dict. Keys that are
    not encoder weights (heads, decoders) are left out and logged.
    """
    state = pyslowfast_state(ckpt)
    _fuse_qkv(state)
    _join_pos_embed(state)
    if "norm.weight" not in state and "pred_head.transforms.0.0.weight" in state:
        state["norm.weight"] = state.pop("pred_head.transforms.0.0.weight")
        state["norm.bias"] = state.pop("pred_head.transforms.0.0.bias")
    out = {k: v for k, v in state.items() if _ENCODER_KEY.match(k)}
    left = sorted(k for k in state if k not in out and k not in _HEAD_KEYS)
    if left:
        logger.info("PySlowFast keys that are not encoder weights (left out): %s", left)
    if not any(k.startswith("blocks.") for k in out):
        raise ValueError(
            "no MViT blocks found in this PySlowFast checkpoint (expected keys such as "
            f"'blocks.0.attn.qkv.weight'); first keys: {sorted(state)[:8]}"
        )
    return out


def convert_pyslowfast_head(ckpt: Mapping[str, object]) -> tuple[str, dict[str, torch.Tensor]]:
    """The checkpoint's output Linear: ("classification", {weight, bias}) from `head.projection`,
    ("maskfeat", {weight, bias}) from `pred_head.projections.0`, or ("none", {})."""
    state = pyslowfast_state(ckpt)
    found: dict[str, dict[str, torch.Tensor]] = {}
    for key, (kind, name) in _HEAD_KEYS.items():
        if key in state:
            found.setdefault(kind, {})[name] = state[key]
    for kind in ("classification", "maskfeat"):
        if kind in found:
            return kind, found[kind]
    return "none", {}


def fit_rel_pos(
    state: dict[str, torch.Tensor], model_state: Mapping[str, torch.Tensor]
) -> list[str]:
    """Linearly interpolate `rel_pos_*` tables of `state` whose length differs from the model's
    (another input size, or MaskFeat pretraining -> fine-tuning with last-stage pooling).
    Changes `state` in place; returns the interpolated keys."""
    changed = []
    for key, value in state.items():
        target = model_state.get(key)
        if ".rel_pos_" in key and target is not None and target.shape != value.shape:
            if value.shape[1:] != target.shape[1:]:
                raise ValueError(
                    f"{key}: head dim {tuple(value.shape)} cannot become {tuple(target.shape)}"
                )
            state[key] = resize_rel_pos(value, target.shape[0])
            changed.append(key)
    return changed
