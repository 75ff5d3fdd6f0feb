"""Fitting our-layout weights to a model: key prefixes (`retarget`), q/v biases and separable
position embeddings in the model's form, and position embeddings / relative-position tables
interpolated to the model's token grid (`resize`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Sequence

import torch
from torch import Tensor, nn

from .models.layers import resize_1d, resize_2d, resize_pos_embed, square_side
from .peers import rename_prefix

__all__ = [
    "fit_qkv_bias",
    "fit_separable",
    "guess_grid",
    "mae_st_norm_to_fc_norm",
    "resize",
    "retarget",
]


def retarget(
    state: dict[str, Tensor], prefix: str, prefix_map: Mapping[str, str] | None
) -> tuple[dict[str, Tensor], list[str]]:
    """Map our-layout keys onto the model's names; returns (state, dropped keys)."""
    for old, new in (prefix_map or {}).items():
        state = rename_prefix(state, old, new)
    if prefix == "encoder.":
        return state, []
    out, dropped = {}, []
    for k, v in state.items():
        if k.startswith("encoder."):
            out[prefix + k[len("encoder.") :]] = v
        else:
            dropped.append(k)
    return out, dropped


def fit_qkv_bias(src: dict[str, Tensor], target: Mapping[str, Tensor]) -> None:
    """VideoMAE q_bias/v_bias <-> fused qkv bias, in place. The k bias is dropped when splitting:
    it adds q·b_k, the same for every key, so softmax attention does not change."""
    for key in [k for k in src if k.endswith(".attn.q_bias")]:
        stem = key[: -len("q_bias")]
        if stem + "qkv.bias" in target and stem + "q_bias" not in target:
            q, v = src.pop(key), src.pop(stem + "v_bias")
            src[stem + "qkv.bias"] = torch.cat((q, torch.zeros_like(q), v))
    for key in [k for k in src if k.endswith(".attn.qkv.bias")]:
        stem = key[: -len("qkv.bias")]
        if stem + "q_bias" in target and key not in target:
            q, _, v = src.pop(key).chunk(3)
            src[stem + "q_bias"], src[stem + "v_bias"] = q, v


def fit_separable(src: dict[str, Tensor], target: Mapping[str, Tensor]) -> None:
    """Separable (spatial, temporal, class) position embeddings -> joint `pos_embed`."""
    for key in [k for k in src if k.endswith("pos_embed_spatial")]:
        stem = key[: -len("pos_embed_spatial")]
        if stem + "pos_embed" not in target or stem + "pos_embed_spatial" in target:
            continue
        spatial, temporal = src.pop(key), src.pop(stem + "pos_embed_temporal")
        joint = spatial.repeat(1, temporal.shape[1], 1) + temporal.repeat_interleave(
            spatial.shape[1], dim=1
        )
        if stem + "pos_embed_class" in src:
            joint = torch.cat((src.pop(stem + "pos_embed_class"), joint), dim=1)
        src[stem + "pos_embed"] = joint


def guess_grid(n: int, ref: Sequence[int]) -> tuple[int, int, int]:
    """The (t, s, s) grid with t*s*s == n closest (log scale) to the reference grid `ref`."""
    best, cost = None, math.inf
    for t in range(1, n + 1):
        if n % t or math.isqrt(n // t) ** 2 != n // t:
            continue
        s = math.isqrt(n // t)
        c = abs(math.log(t / ref[0])) + abs(math.log(s / ref[1]))
        if c < cost:
            best, cost = (t, s, s), c
    if best is None:
        raise ValueError(f"{n} positions do not form a t x s x s grid")
    return best


def _target_grid(model: nn.Module, key: str, n: int) -> tuple[int, int, int]:
    path = key.rsplit(".", 1)[0] if "." in key else ""
    grid = getattr(model.get_submodule(path) if path else model, "grid", None)
    if grid is not None and math.prod(grid) == n:
        return tuple(grid)
    return guess_grid(n, (8, 14, 14))


def resize(
    key: str, value: Tensor, shape: torch.Size, model: nn.Module, prefix_tokens: int
) -> Tensor | None:
    """Interpolated tensor of the target shape, or None when `key` cannot be interpolated."""
    name = key.rsplit(".", 1)[-1]
    if value.dim() != len(shape) or value.shape[-1] != shape[-1]:
        return None
    if name == "pos_embed_temporal":
        return resize_1d(value[0], shape[1])[None]
    if name == "pos_embed_spatial":
        old, new = square_side(value.shape[1]), square_side(shape[1])
        return resize_2d(value[0], (old, old), (new, new))[None]
    if ".rel_pos_" in key or name.startswith("rel_pos_"):
        return resize_1d(value, shape[0])
    if name == "pos_embed" and value.dim() == 3:
        P = prefix_tokens
        new_grid = _target_grid(model, key, shape[1] - P)
        old_grid = guess_grid(value.shape[1] - P, new_grid)
        patch = resize_pos_embed(value[0, P:], old_grid, new_grid)
        return torch.cat((value[0, :P], patch))[None]
    return None


def mae_st_norm_to_fc_norm(src: dict[str, Tensor], target: Mapping[str, Tensor]) -> list[str]:
    """mae_st's fine-tuning loads its pretrained encoder `norm` into the norm after mean
    pooling: do the same when the model has a head fc_norm and no final encoder norm."""
    moved = []
    for name in ("weight", "bias"):
        old, new = f"encoder.norm.{name}", f"head.fc_norm.{name}"
        if old in src and old not in target and new in target and new not in src:
            src[new] = src.pop(old)
            moved.append(f"{old} -> {new}")
    return moved
