"""MViTv2 pooling attention with decomposed relative positions, and the multiscale block.

Parameter names follow PySlowFast's `MultiScaleAttention` / `MultiScaleBlock` (`attn.qkv`,
`attn.proj`, `attn.pool_{q,k,v}`, `attn.norm_{q,k,v}`, `attn.rel_pos_{t,h,w}`, `norm1`, `norm2`,
`mlp.fc1`, `mlp.fc2`, `proj`) so that its checkpoints map onto these modules one to one.

Shapes: B batch, n heads, P prefix (cls) tokens, thw a token grid, N = t*h*w, c head dim.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath, Mlp

Grid = tuple[int, int, int]

__all__ = [
    "MultiScaleAttention",
    "MultiScaleBlock",
    "attention_pool",
    "rel_pos_bias",
    "resize_rel_pos",
]


def attention_pool(
    x: torch.Tensor,
    pool: nn.Module | None,
    thw: Grid,
    num_prefix_tokens: int = 0,
    norm: nn.Module | None = None,
) -> tuple[torch.Tensor, Grid]:
    """Pool the grid tokens of `x` [B, n, P+N, c] (or [B, P+N, c]) with `pool` (a 3D op).

    Prefix tokens pass through unpooled; `norm` (if any) is applied to all tokens afterwards,
    as PySlowFast does. Returns the pooled tensor (same rank) and its grid.
    """
    if pool is None:
        return x, thw
    squeeze = x.ndim == 3
    if squeeze:
        x = x.unsqueeze(1)
    prefix, x = x[:, :, :num_prefix_tokens], x[:, :, num_prefix_tokens:]
    b, n, _, c = x.shape
    # Contiguous, as PySlowFast: the permuted view is channels-last-3d, for which oneDNN's bf16
    # depthwise Conv3d weight gradient (jit_bf16 backward_weights, AVX512-bf16 CPUs) is wrong.
    x = x.reshape(b * n, *thw, c).permute(0, 4, 1, 2, 3).contiguous()  # [B*n, c, t, h, w]
    x = pool(x)
    new_thw = (x.shape[2], x.shape[3], x.shape[4])
    x = x.reshape(b, n, c, -1).transpose(2, 3)  # [B, n, N', c]
    x = torch.cat((prefix, x), dim=2)
    if norm is not None:
        x = norm(x)
    if squeeze:
        x = x.squeeze(1)
    return x, new_thw


def resize_rel_pos(rel_pos: torch.Tensor, length: int) -> torch.Tensor:
    """Linearly interpolate a relative-position table [L, c] to [length, c] (as PySlowFast)."""
    if rel_pos.shape[0] == length:
        return rel_pos
    resized = F.interpolate(rel_pos.t().unsqueeze(0), size=length, mode="linear")
    return resized[0].t()


def _rel_index(q_size: int, k_size: int, device: torch.device) -> torch.Tensor:
    """Index [q_size, k_size] into a table of 2*max(q,k)-1 entries (scaled when sizes differ)."""
    q_ratio = max(k_size / q_size, 1.0)
    k_ratio = max(q_size / k_size, 1.0)
    q_pos = torch.arange(q_size, device=device)[:, None] * q_ratio
    k_pos = torch.arange(k_size, device=device)[None, :] * k_ratio
    return (q_pos - k_pos + (k_size - 1) * k_ratio).long()


def rel_pos_bias(
    q: torch.Tensor,
    q_thw: Grid,
    k_thw: Grid,
    rel_pos_t: torch.Tensor | None,
    rel_pos_h: torch.Tensor | None,
    rel_pos_w: torch.Tensor | None,
    num_prefix_tokens: int = 0,
) -> torch.Tensor:
    """Decomposed relative-position term added to the attention logits (MViTv2).

    q: [B, n, P+Nq, c] unscaled queries; tables [2*max(q,k)-1, c] per axis (None = axis off).
    Returns the bias [B, n, P+Nq, P+Nk]; rows/columns of prefix tokens are zero.
    """
    b, n, _, c = q.shape
    (qt, qh, qw), (kt, kh, kw) = q_thw, k_thw
    r_q = q[:, :, num_prefix_tokens:].reshape(b, n, qt, qh, qw, c)
    # Sum the per-axis terms by broadcasting; only the last sum has the full size.
    bias = q.new_zeros(b, n, qt, qh, qw, 1, 1, 1)
    if rel_pos_t is not None:
        rt = resize_rel_pos(rel_pos_t, 2 * max(qt, kt) - 1)[_rel_index(qt, kt, q.device)]
        bias = bias + torch.einsum("bnthwc,tkc->bnthwk", r_q, rt)[..., :, None, None]
    if rel_pos_h is not None:
        rh = resize_rel_pos(rel_pos_h, 2 * max(qh, kh) - 1)[_rel_index(qh, kh, q.device)]
        bias = bias + torch.einsum("bnthwc,hkc->bnthwk", r_q, rh)[..., None, :, None]
    if rel_pos_w is not None:
        rw = resize_rel_pos(rel_pos_w, 2 * max(qw, kw) - 1)[_rel_index(qw, kw, q.device)]
        bias = bias + torch.einsum("bnthwc,wkc->bnthwk", r_q, rw)[..., None, None, :]
    bias = bias.expand(b, n, qt, qh, qw, kt, kh, kw)
    bias = bias.reshape(b, n, qt * qh * qw, kt * kh * kw)
    p = num_prefix_tokens
    return F.pad(bias, (p, 0, p, 0)) if p else bias


def _pool_conv(channels: int, kernel: Sequence[int], stride: Sequence[int]) -> nn.Conv3d:
    padding = [k // 2 for k in kernel]
    return nn.Conv3d(
        channels, channels, tuple(kernel), tuple(stride), padding, groups=channels, bias=False
    )


def _is_pooling(kernel: Sequence[int], stride: Sequence[int]) -> bool:
    return len(kernel) > 0 and not (_prod(kernel) == 1 and _prod(stride) == 1)


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


class MultiScaleAttention(nn.Module):
    """Pooling attention: depthwise conv3d pooling of Q, K, V (each followed by a LayerNorm),
    decomposed relative positions over (t, h, w), optional residual pooling (q added to the
    attention output). `input_size` (t, h, w) is the block's input grid at the configured clip
    size; it fixes the relative-position table sizes, which interpolate at other sizes.
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        *,
        input_size: Grid,
        num_heads: int = 1,
        qkv_bias: bool = True,
        kernel_q: Sequence[int] = (3, 3, 3),
        kernel_kv: Sequence[int] = (3, 3, 3),
        stride_q: Sequence[int] = (1, 1, 1),
        stride_kv: Sequence[int] = (1, 1, 1),
        norm_layer: Callable[[int], nn.Module] = partial(nn.LayerNorm, eps=1e-6),
        num_prefix_tokens: int = 0,
        rel_pos: bool = True,
        residual_pooling: bool = True,
    ) -> None:
        super().__init__()
        if dim_out % num_heads:
            raise ValueError(f"dim_out {dim_out} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.dim_out = dim_out
        head_dim = dim_out // num_heads
        self.num_prefix_tokens = num_prefix_tokens
        self.residual_pooling = residual_pooling
        self.qkv = nn.Linear(dim, dim_out * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim_out, dim_out)
        q_on, kv_on = _is_pooling(kernel_q, stride_q), _is_pooling(kernel_kv, stride_kv)
        self.pool_q = _pool_conv(head_dim, kernel_q, stride_q) if q_on else None
        self.norm_q = norm_layer(head_dim) if q_on else None
        self.pool_k = _pool_conv(head_dim, kernel_kv, stride_kv) if kv_on else None
        self.norm_k = norm_layer(head_dim) if kv_on else None
        self.pool_v = _pool_conv(head_dim, kernel_kv, stride_kv) if kv_on else None
        self.norm_v = norm_layer(head_dim) if kv_on else None
        self.rel_pos = rel_pos
        if rel_pos:
            sq = stride_q if q_on else (1, 1, 1)
            skv = stride_kv if kv_on else (1, 1, 1)
            t, h, w = input_size
            size_h = 2 * max(h // sq[1], h // skv[1]) - 1
            size_w = 2 * max(w // sq[2], w // skv[2]) - 1
            self.rel_pos_h = nn.Parameter(torch.zeros(size_h, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(size_w, head_dim))
            self.rel_pos_t = nn.Parameter(torch.zeros(2 * t - 1, head_dim))
            for table in (self.rel_pos_h, self.rel_pos_w, self.rel_pos_t):
                nn.init.trunc_normal_(table, std=0.02)

    def forward(self, x: torch.Tensor, thw: Grid) -> tuple[torch.Tensor, Grid]:
        """x [B, P+N, dim] on grid `thw` -> ([B, P+Nq, dim_out], q grid)."""
        b, n_tok, _ = x.shape
        qkv = self.qkv(x).reshape(b, n_tok, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each [B, n, P+N, c]
        p = self.num_prefix_tokens
        q, q_thw = attention_pool(q, self.pool_q, thw, p, self.norm_q)
        k, k_thw = attention_pool(k, self.pool_k, thw, p, self.norm_k)
        v, _ = attention_pool(v, self.pool_v, thw, p, self.norm_v)
        bias = None
        if self.rel_pos:
            bias = rel_pos_bias(
                q, q_thw, k_thw, self.rel_pos_t, self.rel_pos_h, self.rel_pos_w, p
            ).to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # [B, n, P+Nq, c]
        if self.residual_pooling:
            if p:
                out = torch.cat((out[:, :, :p], out[:, :, p:] + q[:, :, p:]), dim=2)
            else:
                out = out + q
        out = out.transpose(1, 2).reshape(b, -1, self.dim_out)
        return self.proj(out), q_thw


class MultiScaleBlock(nn.Module):
    """Pre-norm MViTv2 block. The skip path is max-pooled with the Q stride (kernel s+1) and,
    when the width changes, projected by `proj` from the normed input: before attention with
    `dim_mul_in_att` (attention runs at `dim_out`), else after attention (the MLP widens).
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        *,
        num_heads: int,
        input_size: Grid,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = partial(nn.LayerNorm, eps=1e-6),
        kernel_q: Sequence[int] = (3, 3, 3),
        kernel_kv: Sequence[int] = (3, 3, 3),
        stride_q: Sequence[int] = (1, 1, 1),
        stride_kv: Sequence[int] = (1, 1, 1),
        num_prefix_tokens: int = 0,
        rel_pos: bool = True,
        residual_pooling: bool = True,
        dim_mul_in_att: bool = True,
    ) -> None:
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.dim_mul_in_att = dim_mul_in_att
        self.num_prefix_tokens = num_prefix_tokens
        att_dim = dim_out if dim_mul_in_att else dim
        self.norm1 = norm_layer(dim)
        self.attn = MultiScaleAttention(
            dim,
            att_dim,
            input_size=input_size,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            kernel_q=kernel_q,
            kernel_kv=kernel_kv,
            stride_q=stride_q,
            stride_kv=stride_kv,
            norm_layer=norm_layer,
            num_prefix_tokens=num_prefix_tokens,
            rel_pos=rel_pos,
            residual_pooling=residual_pooling,
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = norm_layer(att_dim)
        self.mlp = Mlp(att_dim, int(att_dim * mlp_ratio), dim_out, act_layer=nn.GELU)
        self.proj = nn.Linear(dim, dim_out) if dim != dim_out else None
        if _prod(stride_q) > 1:
            kernel_skip = [s + 1 if s > 1 else s for s in stride_q]
            padding_skip = [k // 2 for k in kernel_skip]
            self.pool_skip = nn.MaxPool3d(kernel_skip, tuple(stride_q), padding_skip)
        else:
            self.pool_skip = None

    def forward(self, x: torch.Tensor, thw: Grid) -> tuple[torch.Tensor, Grid]:
        """x [B, P+N, dim] on grid `thw` -> ([B, P+N', dim_out], new grid)."""
        x_norm = self.norm1(x)
        x_attn, new_thw = self.attn(x_norm, thw)
        if self.dim_mul_in_att and self.proj is not None:
            x = self.proj(x_norm)
        x, _ = attention_pool(x, self.pool_skip, thw, self.num_prefix_tokens)
        x = x + self.drop_path(x_attn)
        x_norm = self.norm2(x)
        if not self.dim_mul_in_att and self.proj is not None:
            x = self.proj(x_norm)
        return x + self.drop_path(self.mlp(x_norm)), new_thw
