"""MAE decoder (VideoMAE / MAE-spacetime): visible tokens + mask tokens -> per-token targets.

Published widths: VideoMAE uses half the encoder width and 4 blocks (ViT-S: 192/3 heads,
ViT-B: 384/6 heads, ViT-L: 512/8 heads, ViT-H: 640/8 heads) and a 1536-d pixel target;
MAE-spacetime uses 512 wide, 4 blocks, 16 heads and a 768-d target. See `decoder_preset`.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Sequence

import torch
from timm.layers import trunc_normal_
from torch import Tensor, nn

from .layers import Block, resize_pos_embed, sincos_1d_table

DECODER_PRESETS: dict[str, dict[str, int]] = {
    "videomae_s": dict(decoder_dim=192, depth=4, num_heads=3, out_dim=1536),
    "videomae_b": dict(decoder_dim=384, depth=4, num_heads=6, out_dim=1536),
    "videomae_l": dict(decoder_dim=512, depth=4, num_heads=8, out_dim=1536),
    "videomae_h": dict(decoder_dim=640, depth=4, num_heads=8, out_dim=1536),
    "mae_st": dict(decoder_dim=512, depth=4, num_heads=16, out_dim=768),
}


def decoder_preset(name: str) -> dict[str, int]:
    """Keyword arguments (decoder_dim, depth, num_heads, out_dim) of a published decoder."""
    if name not in DECODER_PRESETS:
        raise ValueError(f"unknown decoder preset {name!r}; use one of {sorted(DECODER_PRESETS)}")
    return dict(DECODER_PRESETS[name])


class MAEDecoder(nn.Module):
    """forward(x_vis [B,N_vis,C_enc], mask [B,N] bool, decode_mask=None) -> [B,N_dec,out_dim].

    Tokens entering the blocks: visible ∪ decode_mask positions (VideoMAE v2 running-cell
    decoding; decode_mask ⊂ mask, default = mask); output rows: positions where decode_mask is
    True, in token order. `grid` (t,h,w) or `num_patches` fixes the learned embedding's size.
    """

    def __init__(
        self,
        *,
        encoder_dim: int,
        num_patches: int | None = None,
        grid: Sequence[int] | None = None,
        decoder_dim: int = 384,
        depth: int = 4,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        out_dim: int = 1536,
        pos_embed: str = "sincos",
        qkv_bias: str = "qv",
    ) -> None:
        super().__init__()
        if pos_embed not in ("sincos", "learned"):
            raise ValueError(f"decoder pos_embed must be 'sincos' or 'learned', got {pos_embed!r}")
        self.grid = tuple(grid) if grid is not None else None
        self.num_patches = math.prod(grid) if grid is not None else num_patches
        if pos_embed == "learned" and self.num_patches is None:
            raise ValueError("a learned decoder position embedding needs grid or num_patches")
        self.pos_embed_mode = pos_embed
        self.encoder_to_decoder = nn.Linear(encoder_dim, decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        if pos_embed == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches, decoder_dim))
            trunc_normal_(self.pos_embed, std=0.02)
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.ModuleList(
            Block(decoder_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, norm_layer=norm)
            for _ in range(depth)
        )
        self.norm = norm(decoder_dim)
        self.head = nn.Linear(decoder_dim, out_dim)
        trunc_normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _pos(self, n: int, grid: Sequence[int] | None, device: torch.device) -> Tensor:
        if self.pos_embed_mode == "sincos":
            return sincos_1d_table(n, self.mask_token.shape[-1]).to(device)
        if n == self.num_patches:
            return self.pos_embed[0]
        if grid is None or self.grid is None:
            raise ValueError(
                f"decoder learned pos embed has {self.num_patches} positions, input "
                f"has {n}: pass grid= to forward (and to the constructor)"
            )
        return resize_pos_embed(self.pos_embed[0], self.grid, grid)

    def forward(
        self,
        x_vis: Tensor,
        mask: Tensor,
        decode_mask: Tensor | None = None,
        grid: Sequence[int] | None = None,
    ) -> Tensor:
        """x_vis: encoder patch tokens (no prefix tokens) of the visible positions."""
        mask = mask.flatten(1)
        B, N = mask.shape
        decode_mask = mask if decode_mask is None else decode_mask.flatten(1)
        if bool((decode_mask & ~mask).any()):
            raise ValueError("decode_mask must select masked positions only (decode_mask ⊂ mask)")
        x = self.encoder_to_decoder(x_vis)  # [B, N_vis, Cd]
        Cd = x.shape[-1]
        if x.shape[1] != int((~mask[0]).sum()):
            raise ValueError(
                f"x_vis has {x.shape[1]} tokens, mask leaves {int((~mask[0]).sum())} visible"
            )
        full = self.mask_token.to(x.dtype).expand(B, N, Cd).clone()  # [B, N, Cd]
        full[~mask] = x.reshape(-1, Cd)
        full = full + self._pos(N, grid, x.device).to(x.dtype)
        keep = ~mask | decode_mask
        kept = keep.sum(1)
        if bool((kept != kept[0]).any()):
            raise ValueError(f"visible + decoded counts differ across samples: {kept.tolist()}")
        x = full[keep].reshape(B, -1, Cd)  # [B, N_keep, Cd]
        for blk in self.blocks:
            x = blk(x)
        x = self.head(self.norm(x))  # [B, N_keep, D]
        rows = decode_mask[keep].reshape(B, -1)
        return x[rows].reshape(B, -1, x.shape[-1])  # [B, N_dec, D]


def build_decoder(encoder_dim: int, grid: Sequence[int], **kwargs: Any) -> MAEDecoder:
    """MAEDecoder for an encoder of width `encoder_dim` on token grid `grid`."""
    return MAEDecoder(encoder_dim=encoder_dim, grid=grid, **kwargs)
