"""ViT video encoder (VideoMAE / MAE-spacetime layout) with all-token, mask-token and
visible-only modes, plus the ViT-S/B/L/H presets and the "vit" encoder builder."""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from timm.layers import trunc_normal_
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .layers import Block, resize_1d, resize_2d, resize_pos_embed, sincos_1d_table, sincos_3d_table
from .registry import ENCODERS

POS_EMBED_MODES = ("sincos", "sincos3d", "learned", "separable")
PRESETS: dict[str, dict[str, int]] = {
    "S": dict(embed_dim=384, depth=12, num_heads=6),
    "B": dict(embed_dim=768, depth=12, num_heads=12),
    "L": dict(embed_dim=1024, depth=24, num_heads=16),
    "H": dict(embed_dim=1280, depth=32, num_heads=16),
}


class PatchEmbed3D(nn.Module):
    """Tubelet embedding: Conv3d with kernel = stride = (tubelet, p, p). [B,3,T,H,W] -> [B,N,C]."""

    def __init__(self, patch_size: Sequence[int], in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        # kernel == stride: the conv is one linear map per tubelet. Written as reshape + linear
        # (same weights, same FLOPs) so that fvcore can trace it on the meta device.
        B, C, T, H, W = x.shape
        pt, ph, pw = self.proj.kernel_size
        x = x.reshape(B, C, T // pt, pt, H // ph, ph, W // pw, pw)
        x = x.permute(0, 2, 4, 6, 1, 3, 5, 7).flatten(4)  # [B, t, h, w, C*pt*ph*pw]
        return F.linear(x, self.proj.weight.flatten(1), self.proj.bias).flatten(1, 3)


def check_token_mask(mask: Tensor, grid: Sequence[int]) -> Tensor:
    """The encoders' one mask form: bool [B,N] over the N tokens of the input grid, in (t,h,w)
    row-major order (the objective converts the masker's mask with `masking.mask_to_grid`)."""
    if mask.dim() != 2 or mask.shape[1] != math.prod(grid):
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} must be [B,N] over the {math.prod(grid)} tokens "
            f"of the input grid {tuple(grid)} (see videossl.masking.mask_to_grid)"
        )
    return mask.to(torch.bool)


class VisionTransformer3D(nn.Module):
    """Video ViT. forward(x [B,3,T,H,W], mask=None) -> [B, P+N, C] after the final norm.

    pos_embed: "sincos" (VideoMAE's fixed 1-D table over flattened tokens, not stored),
    "sincos3d" (fixed separable t/h/w table), "learned" (joint `pos_embed` for the construction
    grid, interpolated for other grids) or "separable" (MAE-ST `pos_embed_spatial`,
    `pos_embed_temporal`, `pos_embed_class`). final_norm=False replaces `norm` by Identity
    (VideoMAE/MAE fine-tuning with mean pooling + fc_norm in the head).
    """

    def __init__(
        self,
        *,
        img_size: int = 224,
        num_frames: int = 16,
        patch_size: int = 16,
        tubelet_size: int = 2,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: str = "fused",
        pos_embed: str = "sincos",
        cls_token: bool = False,
        drop_path_rate: float = 0.0,
        layer_scale_init: float = 0.0,
        use_mask_token: bool = False,
        final_norm: bool = True,
        norm_layer: Callable[[int], nn.Module] = partial(nn.LayerNorm, eps=1e-6),
    ) -> None:
        super().__init__()
        if pos_embed not in POS_EMBED_MODES:
            raise ValueError(f"pos_embed must be one of {POS_EMBED_MODES}, got {pos_embed!r}")
        if num_frames % tubelet_size or img_size % patch_size:
            raise ValueError(
                f"input {num_frames}x{img_size}^2 is not divisible by the patch "
                f"{tubelet_size}x{patch_size}^2"
            )
        self.embed_dim = embed_dim
        self.num_prefix_tokens = int(cls_token)
        self.patch_size = (tubelet_size, patch_size, patch_size)
        self.pos_embed_mode = pos_embed
        self.grid = self.input_grid(num_frames, img_size, img_size)
        self.grad_checkpointing = False
        self.patch_embed = PatchEmbed3D(self.patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if cls_token else None
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if use_mask_token else None
        t, h, w = self.grid
        if pos_embed == "learned":
            self.pos_embed = nn.Parameter(
                torch.zeros(1, self.num_prefix_tokens + t * h * w, embed_dim)
            )
        elif pos_embed == "separable":
            self.pos_embed_spatial = nn.Parameter(torch.zeros(1, h * w, embed_dim))
            self.pos_embed_temporal = nn.Parameter(torch.zeros(1, t, embed_dim))
            if cls_token:
                self.pos_embed_class = nn.Parameter(torch.zeros(1, 1, embed_dim))
        dpr = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(
                embed_dim,
                num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                drop_path=dpr[i],
                layer_scale_init=layer_scale_init,
                norm_layer=norm_layer,
            )
            for i in range(depth)
        )
        self.norm = norm_layer(embed_dim) if final_norm else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        for name in (
            "cls_token",
            "mask_token",
            "pos_embed",
            "pos_embed_spatial",
            "pos_embed_temporal",
            "pos_embed_class",
        ):
            p = getattr(self, name, None)
            if isinstance(p, nn.Parameter):
                trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm) and m.elementwise_affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # ---- grids -------------------------------------------------------------------------
    def input_grid(self, T: int, H: int, W: int) -> tuple[int, int, int]:
        """Token grid (t, h, w) for an input of T frames and H x W pixels."""
        pt, ph, pw = self.patch_size
        return T // pt, H // ph, W // pw

    def output_grid(self, T: int, H: int, W: int) -> tuple[int, int, int]:
        """Output token grid; equal to the input grid for a ViT."""
        return self.input_grid(T, H, W)

    # ---- position embeddings -----------------------------------------------------------
    def pos_embed_for(self, grid: Sequence[int]) -> tuple[Tensor | None, Tensor | None]:
        """(prefix pos [1,P,C] or None, patch pos [1,N,C] or None) for a token grid."""
        t, h, w = grid
        t0, h0, w0 = self.grid
        mode, P = self.pos_embed_mode, self.num_prefix_tokens
        dev = self.patch_embed.proj.weight.device
        if mode == "sincos":
            return None, sincos_1d_table(t * h * w, self.embed_dim).to(dev)[None]
        if mode == "sincos3d":
            return None, sincos_3d_table(grid, self.embed_dim).to(dev)[None]
        if mode == "learned":
            patch = self.pos_embed[0, P:]
            if tuple(grid) != self.grid:
                patch = resize_pos_embed(patch, self.grid, grid)
            return (self.pos_embed[:, :P] if P else None), patch[None]
        spatial = self.pos_embed_spatial[0]
        temporal = self.pos_embed_temporal[0]
        if (h, w) != (h0, w0):
            spatial = resize_2d(spatial, (h0, w0), (h, w))
        temporal = resize_1d(temporal, t)
        patch = spatial.repeat(t, 1) + temporal.repeat_interleave(h * w, dim=0)
        return (self.pos_embed_class if P else None), patch[None]

    # ---- forward -----------------------------------------------------------------------
    def _embed(self, x: Tensor, mask: Tensor | None) -> tuple[Tensor, tuple[int, int, int]]:
        grid = self.input_grid(*x.shape[2:])
        x = self.patch_embed(x)  # [B, N, C]
        if mask is not None:
            if self.mask_token is None:
                raise ValueError("forward(x, mask) needs an encoder built with use_mask_token=True")
            m = check_token_mask(mask, grid).unsqueeze(-1)
            x = torch.where(m, self.mask_token.to(x.dtype), x)
        _, pos = self.pos_embed_for(grid)
        return x + pos.to(x.dtype), grid

    def _prepend_prefix(self, x: Tensor) -> Tensor:
        if self.cls_token is None:
            return x
        cls_pos, _ = (
            self.pos_embed_for(self.grid)
            if self.pos_embed_mode in ("learned", "separable")
            else (None, None)
        )
        cls = self.cls_token if cls_pos is None else self.cls_token + cls_pos
        return torch.cat([cls.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)

    def _blocks(self, x: Tensor) -> Tensor:
        for blk in self.blocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(blk, x, use_reentrant=False)
            else:
                x = blk(x)
        return self.norm(x)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x [B,3,T,H,W], mask bool [B,N] over `input_grid` (True = masked) or None ->
        [B, P+N, C]; masked tokens are replaced by the mask token."""
        x, _ = self._embed(x, mask)
        return self._blocks(self._prepend_prefix(x))

    def forward_visible(self, x: Tensor, mask: Tensor) -> Tensor:
        """MAE mode: run on visible tokens only. mask bool [B,N] over `input_grid` (True =
        masked), same number of visible tokens per sample -> [B, P+N_vis, C] in token order."""
        x, grid = self._embed(x, None)
        m = check_token_mask(mask, grid)
        visible = (~m).sum(1)
        if bool((visible != visible[0]).any()):
            raise ValueError(
                "forward_visible needs the same number of visible tokens in every "
                f"sample, got {visible.tolist()}"
            )
        B, _, C = x.shape
        x = x[~m].reshape(B, -1, C)  # [B, N_vis, C]
        return self._blocks(self._prepend_prefix(x))

    # ---- optimizer / training helpers --------------------------------------------------
    def no_weight_decay(self) -> set[str]:
        names = {
            "cls_token",
            "mask_token",
            "pos_embed",
            "pos_embed_spatial",
            "pos_embed_temporal",
            "pos_embed_class",
        }
        return {n for n, _ in self.named_parameters() if n in names}

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """timm layer-decay groups: stem (embeddings) = layer 0, block i = layer i+1, norm last."""
        return dict(
            stem=r"^cls_token|^mask_token|^pos_embed|^patch_embed",
            blocks=[(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        )

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable


def _preset(name: str, **kwargs: Any) -> VisionTransformer3D:
    return VisionTransformer3D(**{**PRESETS[name], **kwargs})


def vit_s(**kwargs: Any) -> VisionTransformer3D:
    """ViT-S/16: 12 blocks, width 384, 6 heads."""
    return _preset("S", **kwargs)


def vit_b(**kwargs: Any) -> VisionTransformer3D:
    """ViT-B/16: 12 blocks, width 768, 12 heads."""
    return _preset("B", **kwargs)


def vit_l(**kwargs: Any) -> VisionTransformer3D:
    """ViT-L/16: 24 blocks, width 1024, 16 heads."""
    return _preset("L", **kwargs)


def vit_h(**kwargs: Any) -> VisionTransformer3D:
    """ViT-H/16: 32 blocks, width 1280, 16 heads."""
    return _preset("H", **kwargs)


def vit_kwargs_from_cfg(
    cfg: Any, *, mask_token: bool = False, final_norm: bool = True, pool_last_stage: bool = True
) -> dict[str, Any]:
    """Constructor keyword arguments from cfg.VIT, cfg.MODEL and cfg.DATA, and the switches the
    objective builder passes (`mask_token`, `final_norm`; a ViT has no pooling stage, so its
    output is dense whatever `pool_last_stage` says)."""
    v = cfg.VIT
    if v.PRESET == "custom":
        size = dict(embed_dim=v.EMBED_DIM, depth=v.DEPTH, num_heads=v.NUM_HEADS)
    elif v.PRESET in PRESETS:
        size = dict(PRESETS[v.PRESET])
    else:
        raise ValueError(f"VIT.PRESET={v.PRESET!r}: use one of {sorted(PRESETS)} or 'custom'")
    return dict(
        **size,
        img_size=cfg.DATA.TRAIN_CROP_SIZE,
        num_frames=cfg.DATA.NUM_FRAMES,
        patch_size=v.PATCH_SIZE,
        tubelet_size=v.TUBELET_SIZE,
        mlp_ratio=v.MLP_RATIO,
        qkv_bias=v.QKV_BIAS,
        pos_embed=v.POS_EMBED,
        cls_token=v.CLS_TOKEN,
        drop_path_rate=cfg.MODEL.DROP_PATH,
        layer_scale_init=v.LAYER_SCALE_INIT,
        use_mask_token=mask_token,
        final_norm=final_norm,
    )


@ENCODERS.register("vit")
def build_vit(cfg: Any, **switches: bool) -> VisionTransformer3D:
    """Build the ViT encoder from cfg.VIT.*, MODEL.DROP_PATH/ACT_CHECKPOINT, DATA sizes and the
    objective's switches (see `vit_kwargs_from_cfg`)."""
    model = VisionTransformer3D(**vit_kwargs_from_cfg(cfg, **switches))
    model.set_grad_checkpointing(cfg.MODEL.ACT_CHECKPOINT)
    return model
