"""MViTv2 video encoder (Li et al., "MViTv2: Improved Multiscale Vision Transformers"), with the
MaskFeat variant (mask token after the stem, last-stage Q pooling removed: stride-16 output).

Parameter names follow PySlowFast's `MViT` (`patch_embed.proj`, `cls_token`, `pos_embed`,
`blocks.i.*`, `norm`) and `MaskMViT` (`mask_token`), so its checkpoints load with prefix handling
only (`videossl.peers.pyslowfast`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .mvit_attention import Grid, MultiScaleBlock
from .mvit_presets import mvit_preset
from .registry import ENCODERS
from .vit import check_token_mask

logger = logging.getLogger(__name__)

__all__ = ["MViT", "build_mvit", "mvit_block_plan", "mvit_kwargs_from_cfg"]


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def mvit_block_plan(
    *,
    stem_grid: Grid,
    embed_dim: int,
    num_heads: int,
    depths: Sequence[int],
    q_stride: Sequence[int] = (1, 2, 2),
    kv_stride: Sequence[int] = (1, 8, 8),
    dim_mul_in_att: bool = True,
    pool_last_stage: bool = True,
) -> list[dict[str, Any]]:
    """Per-block widths, heads and pooling strides of an MViTv2 with stages `depths`.

    Width and heads double at the first block of every stage after the first; Q is pooled by
    `q_stride` there (not at the last transition when `pool_last_stage` is False, as MaskFeat);
    the KV stride starts at `kv_stride` and is divided by each Q stride (at least 1), as
    PySlowFast's POOL_KV_STRIDE_ADAPTIVE. `input_size` is the block's input grid, computed with
    floor division as PySlowFast does (it sizes the relative-position tables).
    """
    starts, total = set(), 0
    for d in depths[:-1]:
        total += d
        starts.add(total)
    last_start = max(starts) if starts else -1
    plan: list[dict[str, Any]] = []
    dim, heads, kv, size = embed_dim, num_heads, list(kv_stride), tuple(stem_grid)
    for i in range(sum(depths)):
        if i in starts:
            heads *= 2
        widen = i in starts if dim_mul_in_att else (i + 1) in starts
        dim_out = dim * 2 if widen else dim
        pooled = i in starts and (pool_last_stage or i != last_start)
        sq = tuple(q_stride) if pooled else (1, 1, 1)
        kv = [max(k // s, 1) for k, s in zip(kv, sq)]
        block = dict(dim=dim, dim_out=dim_out, num_heads=heads, stride_q=sq, input_size=size)
        plan.append({**block, "stride_kv": tuple(kv)})
        size = tuple(n // s for n, s in zip(size, sq))
        dim = dim_out
    return plan


class _ConvStem(nn.Module):
    """Conv3d patch embedding, named `patch_embed.proj` as PySlowFast."""

    def __init__(
        self,
        in_chans: int,
        dim: int,
        kernel: Sequence[int],
        stride: Sequence[int],
        padding: Sequence[int],
    ) -> None:
        super().__init__()
        self.proj = nn.Conv3d(in_chans, dim, tuple(kernel), tuple(stride), tuple(padding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class MViT(nn.Module):
    """MViTv2 encoder: `forward(x [B,3,T,H,W], mask=None) -> [B, P+N, C]` after the final norm.

    `mask` (bool [B,N] over the N tokens of `input_grid`, the stem grid; True = masked): masked
    tokens are replaced by the learned `mask_token` (needs `mask_token=True`).
    `num_frames`/`img_size` fix the relative-position table sizes (and the absolute position
    embedding); other input sizes interpolate them.
    """

    def __init__(
        self,
        *,
        num_frames: int = 16,
        img_size: Union[int, Sequence[int]] = 224,
        in_chans: int = 3,
        embed_dim: int = 96,
        num_heads: int = 1,
        depths: Sequence[int] = (1, 2, 11, 2),
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        pool_kernel: Sequence[int] = (3, 3, 3),
        q_stride: Sequence[int] = (1, 2, 2),
        kv_stride: Sequence[int] = (1, 8, 8),
        pool_last_stage: bool = True,
        patch_kernel: Sequence[int] = (3, 7, 7),
        patch_stride: Sequence[int] = (2, 4, 4),
        patch_padding: Sequence[int] = (1, 3, 3),
        cls_token: bool = True,
        abs_pos_embed: bool = False,
        rel_pos: bool = True,
        residual_pooling: bool = True,
        dim_mul_in_att: bool = True,
        mask_token: bool = False,
        final_norm: bool = True,
        drop_path_rate: float = 0.0,
        zero_decay_pos_cls: bool = False,
        act_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        img_hw = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self._stem = (tuple(patch_kernel), tuple(patch_stride), tuple(patch_padding))
        self._pool_kernel = tuple(pool_kernel)
        self.num_prefix_tokens = 1 if cls_token else 0
        self.zero_decay_pos_cls = zero_decay_pos_cls
        self.grad_checkpointing = act_checkpoint
        norm_layer = partial(nn.LayerNorm, eps=1e-6)

        self.patch_embed = _ConvStem(in_chans, embed_dim, patch_kernel, patch_stride, patch_padding)
        self.stem_grid = self.input_grid(num_frames, *img_hw)
        plan = mvit_block_plan(
            stem_grid=self.stem_grid,
            embed_dim=embed_dim,
            num_heads=num_heads,
            depths=depths,
            q_stride=q_stride,
            kv_stride=kv_stride,
            dim_mul_in_att=dim_mul_in_att,
            pool_last_stage=pool_last_stage,
        )
        self._q_strides = [p["stride_q"] for p in plan]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if cls_token else None
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if mask_token else None
        n_pos = self.num_prefix_tokens + self.stem_grid[0] * self.stem_grid[1] * self.stem_grid[2]
        self.pos_embed = nn.Parameter(torch.zeros(1, n_pos, embed_dim)) if abs_pos_embed else None
        dpr = [drop_path_rate * i / max(len(plan) - 1, 1) for i in range(len(plan))]
        self.blocks = nn.ModuleList(
            MultiScaleBlock(
                p["dim"],
                p["dim_out"],
                num_heads=p["num_heads"],
                input_size=p["input_size"],
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                drop_path=dpr[i],
                norm_layer=norm_layer,
                kernel_q=pool_kernel,
                kernel_kv=pool_kernel,
                stride_q=p["stride_q"],
                stride_kv=p["stride_kv"],
                num_prefix_tokens=self.num_prefix_tokens,
                rel_pos=rel_pos,
                residual_pooling=residual_pooling,
                dim_mul_in_att=dim_mul_in_att,
            )
            for i, p in enumerate(plan)
        )
        self.embed_dim = plan[-1]["dim_out"] if plan else embed_dim
        self.norm = norm_layer(self.embed_dim) if final_norm else nn.Identity()
        stride = list(patch_stride)
        for sq in self._q_strides:
            stride = [a * b for a, b in zip(stride, sq)]
        self.patch_size: tuple[int, int, int] = tuple(stride)
        self._init_weights()

    def _init_weights(self) -> None:
        for p in (self.cls_token, self.mask_token, self.pos_embed):
            if p is not None:
                nn.init.trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # ----------------------------------------------------------------- geometry
    def input_grid(self, t: int, h: int, w: int) -> Grid:
        """Token grid after the stem (where the mask token is substituted), e.g. 8x56x56."""
        kernel, stride, pad = self._stem
        return tuple(_conv_out(n, k, s, p) for n, k, s, p in zip((t, h, w), kernel, stride, pad))

    def output_grid(self, t: int, h: int, w: int) -> Grid:
        """Token grid of the output, e.g. 8x7x7 (supervised) or 8x14x14 (MaskFeat) at 16x224."""
        grid = self.input_grid(t, h, w)
        for sq in self._q_strides:
            if any(s > 1 for s in sq):
                grid = tuple(
                    _conv_out(n, k, s, k // 2) for n, k, s in zip(grid, self._pool_kernel, sq)
                )
        return grid

    # ----------------------------------------------------------------- forward
    def _pos_embed(self, grid: Grid) -> torch.Tensor:
        pos = self.pos_embed
        p = self.num_prefix_tokens
        if tuple(grid) == tuple(self.stem_grid):
            return pos
        c = pos.shape[-1]
        spatial = pos[:, p:].reshape(1, *self.stem_grid, c).permute(0, 4, 1, 2, 3)
        spatial = F.interpolate(spatial, size=tuple(grid), mode="trilinear")
        return torch.cat((pos[:, :p], spatial.flatten(2).transpose(1, 2)), dim=1)

    def _apply_mask(self, x: torch.Tensor, mask: torch.Tensor, grid: Grid) -> torch.Tensor:
        if self.mask_token is None:
            raise ValueError(
                "a mask was given but this MViT has no mask token; build it with "
                "mask_token=True (the MaskFeat objective builder does)"
            )
        m = check_token_mask(mask, grid).unsqueeze(-1)
        return torch.where(m, self.mask_token.to(x.dtype), x)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [B,3,T,H,W] (mask bool [B,N] over `input_grid`, or None) -> [B, P+N, embed_dim]."""
        x = self.patch_embed(x)  # [B, C, t, h, w]
        grid: Grid = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)  # [B, N, C]
        if mask is not None:
            x = self._apply_mask(x, mask, grid)
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        if self.pos_embed is not None:
            x = x + self._pos_embed(grid)
        for blk in self.blocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                x, grid = checkpoint(blk, x, grid, use_reentrant=False)
            else:
                x, grid = blk(x, grid)
        return self.norm(x)

    # ----------------------------------------------------------------- timm hooks
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Names excluded from weight decay (1-D parameters are excluded by the optimizer
        factory). Empty unless `zero_decay_pos_cls`, as PySlowFast's ZERO_DECAY_POS_CLS."""
        if not self.zero_decay_pos_cls:
            return set()
        keys = ("cls_token", "pos_embed", "mask_token", "rel_pos_")
        return {n for n, _ in self.named_parameters() if any(k in n for k in keys)}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Parameter groups for timm's layer-wise learning-rate decay: stem, blocks, norm."""
        return dict(
            stem=r"^cls_token|^mask_token|^pos_embed|^patch_embed",
            blocks=[(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        )

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute block activations in the backward pass (saves memory)."""
        self.grad_checkpointing = enable


def mvit_kwargs_from_cfg(
    cfg: Any, *, mask_token: bool = False, final_norm: bool = True, pool_last_stage: bool = True
) -> dict[str, Any]:
    """Keyword arguments of `MViT` from a config (MVIT.*, MODEL.*, DATA.*) and the switches the
    objective builder passes (MaskFeat: `mask_token=True, pool_last_stage=False`)."""
    if cfg.MVIT.PRESET.lower() == "custom":
        m = cfg.MVIT
        kwargs: dict[str, Any] = dict(
            embed_dim=m.EMBED_DIM,
            num_heads=m.NUM_HEADS,
            depths=tuple(m.DEPTHS),
            mlp_ratio=m.MLP_RATIO,
            cls_token=m.CLS_TOKEN,
            abs_pos_embed=m.ABS_POS_EMBED,
            rel_pos=m.REL_POS,
            residual_pooling=m.RESIDUAL_POOLING,
            dim_mul_in_att=m.DIM_MUL_IN_ATT,
            pool_kernel=tuple(m.POOL_KERNEL),
            kv_stride=tuple(m.POOL_KV_STRIDE),
        )
    else:
        kwargs = mvit_preset(cfg.MVIT.PRESET)
    kwargs.update(
        num_frames=cfg.DATA.NUM_FRAMES,
        img_size=cfg.DATA.TRAIN_CROP_SIZE,
        mask_token=mask_token,
        final_norm=final_norm,
        pool_last_stage=pool_last_stage,
        drop_path_rate=cfg.MODEL.DROP_PATH,
        act_checkpoint=cfg.MODEL.ACT_CHECKPOINT,
        zero_decay_pos_cls=cfg.MVIT.ZERO_DECAY_POS_CLS,
    )
    return kwargs


@ENCODERS.register("mvit")
def build_mvit(cfg: Any, **switches: bool) -> MViT:
    """Build the MViTv2 encoder named by MVIT.PRESET (or the MVIT.* fields for "custom").

    The MaskFeat objective builder passes `mask_token=True, pool_last_stage=False`: a mask token
    and stride 16 kept in the last stage (8x14x14 output for 16x224 clips), as PySlowFast's
    MaskFeat MViT.
    """
    kwargs = mvit_kwargs_from_cfg(cfg, **switches)
    model = MViT(**kwargs)
    logger.info(
        "MViTv2 %s: output %d channels, grid %s for %dx%d clips",
        cfg.MVIT.PRESET,
        model.embed_dim,
        model.output_grid(cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE, cfg.DATA.TRAIN_CROP_SIZE),
        cfg.DATA.NUM_FRAMES,
        cfg.DATA.TRAIN_CROP_SIZE,
    )
    return model
