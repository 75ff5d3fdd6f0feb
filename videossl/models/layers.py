"""Shared transformer layers: attention (PyTorch SDPA), pre-norm block, position embeddings.

Shapes: B batch, N tokens, C channels. Token grids are (t, h, w), flattened time-major.
Parameter names follow VideoMAE (`attn.qkv`, `attn.q_bias`/`attn.v_bias`, `attn.proj`, `norm1`,
`norm2`, `mlp.fc1`, `mlp.fc2`, `gamma_1`/`gamma_2` for layer scale) so checkpoints map 1:1.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp
from torch import Tensor, nn

QKV_BIAS_MODES = ("fused", "qv", "none")


class Attention(nn.Module):
    """Multi-head self-attention with `F.scaled_dot_product_attention` (flash / mem-efficient).

    qkv_bias: "fused" (one bias in `qkv`), "qv" (VideoMAE: `q_bias` and `v_bias`, k bias zero)
    or "none". forward: [B,N,C] -> [B,N,C].
    """

    def __init__(self, dim: int, num_heads: int = 8, *, qkv_bias: str = "fused") -> None:
        super().__init__()
        if qkv_bias not in QKV_BIAS_MODES:
            raise ValueError(f"qkv_bias must be one of {QKV_BIAS_MODES}, got {qkv_bias!r}")
        if dim % num_heads:
            raise ValueError(f"dim {dim} must be divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias == "fused")
        if qkv_bias == "qv":
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.q_bias = self.v_bias = None
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        B, N, C = x.shape
        bias = self.qkv.bias
        if self.q_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias)  # [B, N, 3C]
        q, k, v = qkv.reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)  # [B, heads, N, C/heads]
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    """Pre-norm transformer block: x + dp(g1 * attn(norm1(x))); x + dp(g2 * mlp(norm2(x)))."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        mlp_ratio: float = 4.0,
        qkv_bias: str = "fused",
        drop_path: float = 0.0,
        layer_scale_init: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        act_layer: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=act_layer)
        if layer_scale_init > 0:
            self.gamma_1 = nn.Parameter(layer_scale_init * torch.ones(dim))
            self.gamma_2 = nn.Parameter(layer_scale_init * torch.ones(dim))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self, x: Tensor) -> Tensor:
        if self.gamma_1 is None:
            x = x + self.drop_path(self.attn(self.norm1(x)))
            return x + self.drop_path(self.mlp(self.norm2(x)))
        x = x + self.drop_path(self.gamma_1 * self.attn(self.norm1(x)))
        return x + self.drop_path(self.gamma_2 * self.mlp(self.norm2(x)))


def sincos_1d_table(num_positions: int, dim: int) -> Tensor:
    """VideoMAE's fixed table over flattened positions: [num_positions, dim].

    angle(p, j) = p / 10000^(2*(j//2)/dim); sin on even channels, cos on odd channels.
    """
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]
    j = torch.arange(dim, dtype=torch.float64)
    angle = pos / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode="floor") / dim)
    table = torch.where(j.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float()


def sincos_axis(positions: Tensor, dim: int) -> Tensor:
    """MAE-style 1-D embedding of float positions [L] -> [L, dim] (first half sin, second cos)."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding needs an even dim, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    out = positions.double()[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1).float()


def sincos_3d_table(grid: Sequence[int], dim: int) -> Tensor:
    """Separable 3-D sin-cos table for a (t, h, w) grid: [t*h*w, dim], time-major.

    Channels split as dim/4 time, 3*dim/8 height, 3*dim/8 width (dim divisible by 16 is safest;
    any split is rounded to even sizes with the remainder on time).
    """
    t, h, w = grid
    d_sp = (dim * 3 // 8) // 2 * 2
    d_t = dim - 2 * d_sp
    gt, gh, gw = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    parts = [
        sincos_axis(gt.flatten(), d_t),
        sincos_axis(gh.flatten(), d_sp),
        sincos_axis(gw.flatten(), d_sp),
    ]
    return torch.cat(parts, dim=1)


def resize_pos_embed(pos: Tensor, old_grid: Sequence[int], new_grid: Sequence[int]) -> Tensor:
    """Resize a grid position embedding [t*h*w, C] to a new (t, h, w) grid -> [t'*h'*w', C].

    Time is interpolated linearly, space bicubically (align_corners=False), as PySlowFast/MAE.
    """
    t0, h0, w0 = old_grid
    t1, h1, w1 = new_grid
    if pos.shape[0] != t0 * h0 * w0:
        raise ValueError(
            f"position embedding has {pos.shape[0]} rows, grid {old_grid} needs {t0 * h0 * w0}"
        )
    C = pos.shape[-1]
    x = pos.float().reshape(t0, h0 * w0, C)
    if t1 != t0:  # [h0*w0, C, t0] -> linear over time
        x = x.permute(1, 2, 0)
        x = F.interpolate(x, size=t1, mode="linear", align_corners=False).permute(2, 0, 1)
    if (h1, w1) != (h0, w0):  # [t1, C, h0, w0] -> bicubic over space
        x = x.reshape(t1, h0, w0, C).permute(0, 3, 1, 2)
        x = F.interpolate(x, size=(h1, w1), mode="bicubic", align_corners=False)
        x = x.permute(0, 2, 3, 1)
    return x.reshape(t1 * h1 * w1, C).to(pos.dtype)


def resize_1d(table: Tensor, length: int) -> Tensor:
    """Linearly resize a table [L, C] along its first dim to [length, C] (temporal pos embeds,
    relative-position tables)."""
    if table.shape[0] == length:
        return table
    x = table.float().t()[None]  # [1, C, L]
    x = F.interpolate(x, size=length, mode="linear", align_corners=False)
    return x[0].t().to(table.dtype)


def resize_2d(table: Tensor, old_hw: Sequence[int], new_hw: Sequence[int]) -> Tensor:
    """Bicubically resize a spatial table [h*w, C] to [h'*w', C]."""
    return resize_pos_embed(table, (1, *old_hw), (1, *new_hw))


def square_side(n: int) -> int:
    """Side of a square grid with n cells; ValueError when n is not a perfect square."""
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"{n} positions do not form a square grid")
    return side
