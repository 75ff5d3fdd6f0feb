"""Clip normalisation, owned by the objective (detectron2's ``pixel_mean``/``pixel_std``).

Loaders ship uint8 clips ``[B,3,T,H,W]``; every objective holds one ``Normalize`` built by its
builder from ``DATA.MEAN``/``DATA.STD`` (their one definition, in ``config/defaults``) and turns
the batch's clip into float on the device. Channels are in the clips' order: the datasets
reverse decoded frames for ``DATA.INPUT_CHANNEL_ORDER bgr`` and ``DATA.MEAN``/``STD`` are given
in that order, so nothing is reordered here.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = ["Normalize"]


class Normalize(nn.Module):
    """uint8 (or float in 0..255) ``[B,3,T,H,W]`` -> float32 ``(x/255 - mean) / std``.

    ``mean``/``std`` are in 0..1 units, one value per channel. They are **non-persistent**
    buffers: they follow ``.to(device)`` but are not written to the state dict, so checkpoints
    written before the objectives owned their normalisation (and peer checkpoints) load
    strictly, and the config stays the only place that defines them.

    ``unit(video)`` gives the un-normalised clip in 0..1 (``x/255``), which pixel targets that
    are defined on [0,1] pixels are computed from (no round trip through the normalised clip).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"DATA.MEAN {list(mean)} and DATA.STD {list(std)} differ in length.")
        if any(float(s) <= 0 for s in std):
            raise ValueError(f"DATA.STD must be positive, got {list(std)}.")
        shape = (1, len(mean), 1, 1, 1)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(shape), False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(shape), False)

    @staticmethod
    def unit(video: Tensor) -> Tensor:
        """uint8 (or 0..255 float) clip -> float32 pixels in [0,1]."""
        return video.to(torch.float32) / 255.0

    def forward(self, video: Tensor) -> Tensor:
        if video.dim() != 5 or video.shape[1] != self.mean.shape[1]:
            raise ValueError(
                f"Normalize expects clips [B,{self.mean.shape[1]},T,H,W], got {tuple(video.shape)}."
            )
        return (self.unit(video) - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"
