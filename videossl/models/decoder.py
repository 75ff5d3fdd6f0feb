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

from .layers import Block, resize_1d, resize_2d, resize_pos_embed, sincos_1d_table

DECODER_PRESETS: dict[str, dict[str, Any]] = {
    "videomae_s": dict(decoder_dim=192, depth=4, num_heads=3, out_dim=1536),
    "videomae_b": dict(decoder_dim=384, depth=4, num_heads=6, out_dim=1536),
    "videomae_l": dict(decoder_dim=512, depth=4, num_heads=8, out_dim=1536),
    "videomae_h": dict(decoder_dim=640, depth=4, num_heads=8, out_dim=1536),
    "mae_st": dict(
        decoder_dim=512,
        depth=4,
        num_heads=16,
        out_dim=768,
        pos_embed="learned_sep",
        qkv_bias="fused",
        proj_bias=True,
        cls_token=True,
    ),
}
POS_EMBED_MODES = ("sincos", "learned", "learned_sep")


def decoder_preset(name: str) -> dict[str, Any]:
    """Keyword arguments of a published decoder (sizes; layout options for mae_st)."""
    if name not in DECODER_PRESETS:
        raise ValueError(f"unknown decoder preset {name!r}; use one of {sorted(DECODER_PRESETS)}")
    return dict(DECODER_PRESETS[name])


class MAEDecoder(nn.Module):
    """forward(x_vis [B,N_vis,C_enc], mask [B,N] bool, decode_mask=None, grid=None)
    -> [B,N_dec,out_dim].

    The blocks see [cls token (cls_token=True)] + the N_vis visible tokens (projected, plus
    their position embedding) + one mask token (plus position embedding) per position where
    `decode_mask` is True. decode_mask defaults to `mask` (MAE / VideoMAE: every masked
    token; with all positions present this is MAE-ST's full-sequence decoder up to token order,
    which attention does not see). VideoMAE v2's running-cell decoding passes a decode_mask
    that may also select visible positions: those get a mask token too, as in VideoMAE v2.
    Output rows: the mask-token positions, in token order.

    Two published layouts (see `decoder_preset`):

    - VideoMAE (v1/v2): `encoder_to_decoder` without bias, fixed 1-D sin-cos table
      (pos_embed="sincos"), q/v biases ("qv"), no cls token.
    - MAE-ST (facebookresearch/mae_st `MaskedAutoencoderViT` with sep_pos_embed, cls_embed):
      `encoder_to_decoder` with bias (proj_bias=True), learned separable `pos_embed_spatial`
      [1,h*w,C], `pos_embed_temporal` [1,t,C] and `pos_embed_class` [1,1,C]
      (pos_embed="learned_sep"), a learned decoder `cls_token` prepended (its output row is
      dropped), q/k/v biases ("fused").

    pos_embed="learned" is one joint table [1, P+t*h*w, C] (mae_st without sep_pos_embed).
    `grid` (t,h,w) or `num_patches` fixes the learned tables' size; forward(grid=...) resizes
    them for another grid (linear in time, bicubic in space).
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
        proj_bias: bool = False,
        cls_token: bool = False,
    ) -> None:
        super().__init__()
        if pos_embed not in POS_EMBED_MODES:
            raise ValueError(
                f"decoder pos_embed must be one of {POS_EMBED_MODES}, got {pos_embed!r}"
            )
        self.grid = tuple(int(g) for g in grid) if grid is not None else None
        self.num_patches = math.prod(self.grid) if self.grid is not None else num_patches
        if pos_embed == "learned" and self.num_patches is None:
            raise ValueError("a learned decoder position embedding needs grid or num_patches")
        if pos_embed == "learned_sep" and self.grid is None:
            raise ValueError("a separable decoder position embedding needs grid=(t, h, w)")
        self.pos_embed_mode = pos_embed
        self.num_prefix_tokens = int(cls_token)
        self.encoder_to_decoder = nn.Linear(encoder_dim, decoder_dim, bias=proj_bias)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        # mae_st leaves its decoder cls token at zero (only the encoder's is initialised).
        self.cls_token = nn.Parameter(torch.zeros(1, 1, decoder_dim)) if cls_token else None
        if pos_embed == "learned":
            rows = self.num_prefix_tokens + self.num_patches
            self.pos_embed = nn.Parameter(torch.zeros(1, rows, decoder_dim))
            trunc_normal_(self.pos_embed, std=0.02)
        elif pos_embed == "learned_sep":
            t, h, w = self.grid
            self.pos_embed_spatial = nn.Parameter(torch.zeros(1, h * w, decoder_dim))
            self.pos_embed_temporal = nn.Parameter(torch.zeros(1, t, decoder_dim))
            trunc_normal_(self.pos_embed_spatial, std=0.02)
            trunc_normal_(self.pos_embed_temporal, std=0.02)
            if cls_token:
                self.pos_embed_class = nn.Parameter(torch.zeros(1, 1, decoder_dim))
                trunc_normal_(self.pos_embed_class, std=0.02)
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.ModuleList(
            Block(decoder_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, norm_layer=norm)
            for _ in range(depth)
        )
        self.norm = norm(decoder_dim)
        self.head = nn.Linear(decoder_dim, out_dim)
        trunc_normal_(self.mask_token, std=0.02)
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                if name.endswith("attn.qkv") and qkv_bias == "fused":
                    for w in m.weight.data.chunk(3):  # mae_st: three Linears q, k, v
                        nn.init.xavier_uniform_(w)
                else:
                    nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _pos(
        self, n: int, grid: Sequence[int] | None, device: torch.device
    ) -> tuple[Tensor | None, Tensor]:
        """(prefix position rows [P,C] or None, patch position rows [n,C])."""
        mode, P = self.pos_embed_mode, self.num_prefix_tokens
        if mode == "sincos":
            return None, sincos_1d_table(n, self.mask_token.shape[-1]).to(device)
        if grid is None and n == self.num_patches:
            grid = self.grid
        if grid is None or (self.grid is None and n != self.num_patches):
            raise ValueError(
                f"decoder learned pos embed has {self.num_patches} positions, input "
                f"has {n}: pass grid= to forward (and to the constructor)"
            )
        if math.prod(grid) != n:
            raise ValueError(f"grid {tuple(grid)} does not have the mask's {n} positions")
        if mode == "learned":
            patch = self.pos_embed[0, P:]
            if n != self.num_patches:
                patch = resize_pos_embed(patch, self.grid, grid)
            return (self.pos_embed[0, :P] if P else None), patch
        t, h, w = grid
        spatial, temporal = self.pos_embed_spatial[0], self.pos_embed_temporal[0]
        if (h, w) != tuple(self.grid[1:]):
            spatial = resize_2d(spatial, self.grid[1:], (h, w))
        temporal = resize_1d(temporal, t)
        patch = spatial.repeat(t, 1) + temporal.repeat_interleave(h * w, dim=0)
        return (self.pos_embed_class[0] if P else None), patch

    def forward(
        self,
        x_vis: Tensor,
        mask: Tensor,
        decode_mask: Tensor | None = None,
        grid: Sequence[int] | None = None,
    ) -> Tensor:
        """x_vis: encoder patch tokens (no prefix tokens) of the visible positions, in token
        order; mask [B,N] or [B,t,h,w] (True = hidden from the encoder); decode_mask likewise
        (True = predict here)."""
        if grid is None and mask.dim() == 4:
            grid = tuple(mask.shape[1:])
        mask = mask.flatten(1)
        B, N = mask.shape
        decode_mask = mask if decode_mask is None else decode_mask.flatten(1)
        if decode_mask.shape != mask.shape:
            raise ValueError(f"decode_mask {tuple(decode_mask.shape)} != mask {tuple(mask.shape)}")
        x = self.encoder_to_decoder(x_vis)  # [B, N_vis, Cd]
        Cd = x.shape[-1]
        if x.shape[1] != int((~mask[0]).sum()):
            raise ValueError(
                f"x_vis has {x.shape[1]} tokens, mask leaves {int((~mask[0]).sum())} visible"
            )
        n_dec = decode_mask.sum(1)
        if bool((n_dec != n_dec[0]).any()):
            raise ValueError(f"decoded counts differ across samples: {n_dec.tolist()}")
        prefix_pos, pos = self._pos(N, grid, x.device)
        pos = pos.to(x.dtype).expand(B, N, Cd)
        vis = x + pos[~mask].reshape(B, -1, Cd)  # [B, N_vis, Cd]
        queries = self.mask_token.to(x.dtype) + pos[decode_mask].reshape(B, -1, Cd)  # [B,N_dec,Cd]
        parts = [vis, queries]
        if self.cls_token is not None:
            cls = self.cls_token if prefix_pos is None else self.cls_token + prefix_pos
            parts.insert(0, cls.to(x.dtype).expand(B, -1, -1))
        x = torch.cat(parts, dim=1)  # [B, P+N_vis+N_dec, Cd]
        for blk in self.blocks:
            x = blk(x)
        n = queries.shape[1]
        x = x[:, x.shape[1] - n :]
        return self.head(self.norm(x))  # [B, N_dec, D]


def build_decoder(encoder_dim: int, grid: Sequence[int], **kwargs: Any) -> MAEDecoder:
    """MAEDecoder for an encoder of width `encoder_dim` on token grid `grid`."""
    return MAEDecoder(encoder_dim=encoder_dim, grid=grid, **kwargs)
