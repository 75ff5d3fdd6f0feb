"""Box-aware clip transforms for AVA: every spatial change moves the boxes with the pixels.

Frames are uint8 `[T,3,H,W]`; boxes are pixel (x1,y1,x2,y2) `[n,4]` float in that frame. The
clips stay uint8 (the objective normalises on the device); the training transform draws from
an explicit `generator`.
The geometry itself is torchvision's (transforms.v2.functional on tv_tensors.BoundingBoxes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F


def _wrap(boxes: torch.Tensor, frames: torch.Tensor) -> tv_tensors.BoundingBoxes:
    return tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=tuple(frames.shape[-2:]))


def _resize(frames: torch.Tensor, boxes: torch.Tensor, size: list[int]):
    out = F.resize(frames, size, antialias=True)
    return out, F.resize(_wrap(boxes, frames), size).as_subclass(torch.Tensor)


def _crop(frames: torch.Tensor, boxes: torch.Tensor, top: int, left: int, h: int, w: int):
    out = F.crop(frames, top, left, h, w)
    return out, F.crop(_wrap(boxes, frames), top, left, h, w).as_subclass(torch.Tensor)


def _hflip(frames: torch.Tensor, boxes: torch.Tensor):
    out = F.horizontal_flip(frames)
    return out, F.horizontal_flip(_wrap(boxes, frames)).as_subclass(torch.Tensor)


def train_transform(
    frames: torch.Tensor,
    boxes: torch.Tensor,
    *,
    crop_size: int,
    jitter_scales: Sequence[int],
    random_flip: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Short side to a random size in `jitter_scales`, random square crop, random flip.

    frames [T,3,H,W] uint8, boxes [n,4] pixels -> [T,3,crop,crop], [n,4] (clamped to crop).
    """
    lo, hi = int(jitter_scales[0]), int(jitter_scales[1])
    short = int(torch.randint(lo, hi + 1, (1,), generator=generator))
    frames, boxes = _resize(frames, boxes, [max(short, crop_size)])
    h, w = frames.shape[-2:]
    top = int(torch.randint(0, h - crop_size + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - crop_size + 1, (1,), generator=generator))
    frames, boxes = _crop(frames, boxes, top, left, crop_size, crop_size)
    if random_flip and float(torch.rand((), generator=generator)) < 0.5:
        frames, boxes = _hflip(frames, boxes)
    return frames, boxes


def eval_transform(
    frames: torch.Tensor, boxes: torch.Tensor, *, crop_size: int, mode: str = "resize"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic: "resize" squeezes the frame to crop_size²; "center_crop" resizes the
    short side to crop_size and takes the central square (boxes clamped to it)."""
    if mode == "resize":
        return _resize(frames, boxes, [crop_size, crop_size])
    if mode == "center_crop":
        frames, boxes = _resize(frames, boxes, [crop_size])
        h, w = frames.shape[-2:]
        top, left = (h - crop_size) // 2, (w - crop_size) // 2
        return _crop(frames, boxes, top, left, crop_size, crop_size)
    raise ValueError(f"AVA.TEST_SPATIAL must be 'resize' or 'center_crop', got {mode!r}.")
