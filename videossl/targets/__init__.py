"""Prediction targets (HOG, pixels), computed under no-grad on the batch's device.

Registry `TARGETS`: name -> target class. A target is built with keyword arguments and called
as `target(video [B,3,T,H,W]) -> [B,N,D]` with attribute `dim` = D. Each class has a
`from_config(cfg, patch_size) -> dict` of constructor keywords, used by `build_targets`.
"""

from __future__ import annotations

from fvcore.common.config import CfgNode
from fvcore.common.registry import Registry
from torch import nn

from .hog import HOGTarget, hog_cells, hog_reference
from .losses import combine_losses, masked_mse
from .pixels import PixelTarget, denormalize_videomae_patches, patchify, unpatchify

TARGETS = Registry("TARGETS")
TARGETS.__doc__ = "Target classes: (video [B,3,T,H,W]) -> [B,N,D], attribute dim."
TARGETS._do_register("hog", HOGTarget)
TARGETS._do_register("pixel", PixelTarget)

__all__ = [
    "TARGETS",
    "HOGTarget",
    "PixelTarget",
    "build_targets",
    "combine_losses",
    "denormalize_videomae_patches",
    "hog_cells",
    "hog_reference",
    "masked_mse",
    "patchify",
    "unpatchify",
]


def build_targets(
    cfg: CfgNode, *, patch_size: tuple[int, int, int]
) -> dict[str, tuple[nn.Module, float]]:
    """{name: (target module, loss weight)} from cfg.TARGET.NAMES / WEIGHTS.

    `patch_size` is the built encoder's output-token patch (`encoder.patch_size`, e.g. 2x16x16
    for the MaskFeat MViTv2 whose stem stride is 2x4x4): objective builders pass it so the
    targets tile the encoder's output grid. Nothing else derives the patch from the config.
    """
    names, weights = list(cfg.TARGET.NAMES), list(cfg.TARGET.WEIGHTS)
    if len(names) != len(weights):
        raise ValueError("TARGET.NAMES and TARGET.WEIGHTS must have the same length.")
    patch = tuple(int(p) for p in patch_size)
    out = {}
    for name, weight in zip(names, weights):
        if name not in TARGETS:
            valid = sorted(n for n, _ in TARGETS)
            raise ValueError(f"TARGET.NAMES has unknown target {name!r}; choose from {valid}.")
        cls = TARGETS.get(name)
        out[name] = (cls(**cls.from_config(cfg, patch)), float(weight))
    return out
