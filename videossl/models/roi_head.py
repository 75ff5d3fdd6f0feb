"""RoI head for AVA: encoder tokens -> per-box action logits.

Tokens [B,P+N,C] (P prefix tokens dropped) are laid out on their t x h x w grid, averaged
over time, and each box is cut out with torchvision's `roi_align` (spatial_scale = feature
size / input size, e.g. 1/16 for ViT-B/16, 1/32 for the last MViTv2 stage), max-pooled over
its window, dropped out and classified by a linear layer (PySlowFast's ResNetRoIHead design).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torchvision.ops import roi_align


def tokens_to_map(tokens: torch.Tensor, grid: Sequence[int], num_prefix_tokens: int = 0):
    """[B,P+t*h*w,C] -> [B,C,t,h,w] (prefix tokens dropped)."""
    t, h, w = grid
    x = tokens[:, num_prefix_tokens:]
    if x.shape[1] != t * h * w:
        raise ValueError(
            f"RoI head: {x.shape[1]} tokens after the prefix do not fill the grid {tuple(grid)}."
        )
    return x.reshape(x.shape[0], t, h, w, x.shape[-1]).permute(0, 4, 1, 2, 3)


def pool_boxes(
    feature: torch.Tensor,
    boxes: torch.Tensor,
    *,
    spatial_scale: float,
    resolution: int = 7,
    sampling_ratio: int = 0,
) -> torch.Tensor:
    """feature [B,C,h,w], boxes [R,5] (batch index, x1,y1,x2,y2 in input pixels) -> [R,C]:
    roi_align to resolution² (aligned pixel model), then the max over that window."""
    aligned = roi_align(
        feature,
        boxes.to(feature.dtype),
        output_size=(resolution, resolution),
        spatial_scale=spatial_scale,
        sampling_ratio=sampling_ratio,
        aligned=True,
    )  # [R,C,res,res]
    return aligned.amax(dim=(2, 3))


class AVARoIHead(nn.Module):
    """Per-box multi-label action logits from encoder tokens."""

    def __init__(
        self,
        in_dim: int,
        num_classes: int = 80,
        *,
        num_prefix_tokens: int = 0,
        resolution: int = 7,
        sampling_ratio: int = 0,
        dropout: float = 0.5,
        init_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.num_prefix_tokens = num_prefix_tokens
        self.resolution = resolution
        self.sampling_ratio = sampling_ratio
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.proj = nn.Linear(in_dim, num_classes)
        nn.init.trunc_normal_(self.proj.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)
        with torch.no_grad():
            self.proj.weight.mul_(init_scale)

    def forward(
        self,
        tokens: torch.Tensor,
        grid: Sequence[int],
        boxes: torch.Tensor,
        input_size: Sequence[int],
    ) -> torch.Tensor:
        """tokens [B,P+N,C] on `grid` (t,h,w); boxes [R,5] in pixels of an input of
        `input_size` (H,W) -> logits [R,num_classes]."""
        feature = tokens_to_map(tokens, grid, self.num_prefix_tokens).mean(dim=2)  # [B,C,h,w]
        scale_h = grid[1] / input_size[0]
        scale_w = grid[2] / input_size[1]
        if abs(scale_h - scale_w) > 1e-6:
            raise ValueError(
                f"RoI head: feature grid {tuple(grid[1:])} and input {tuple(input_size)} have "
                "different spatial strides; use a square crop or equal patch strides."
            )
        pooled = pool_boxes(
            feature,
            boxes,
            spatial_scale=scale_h,
            resolution=self.resolution,
            sampling_ratio=self.sampling_ratio,
        )  # [R,C]
        return self.proj(self.dropout(pooled))
