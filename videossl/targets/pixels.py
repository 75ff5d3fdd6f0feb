"""Pixel targets for MAE / VideoMAE (docs/reference.md §4), patchify / unpatchify.

Patch vectors are in (pixel, channel) order: pixel (dt, dh, dw) row-major, channel innermost,
tokens in (t, h, w) row-major order.
"""

from __future__ import annotations

from typing import Sequence

import torch
from fvcore.common.config import CfgNode
from torch import nn

__all__ = ["PixelTarget", "denormalize_videomae_patches", "patchify", "unpatchify"]

NORMS = ("videomae", "maest", "none")
EPS = 1e-6


def patchify(video: torch.Tensor, patch: Sequence[int]) -> torch.Tensor:
    """[B,C,T,H,W] -> [B, N, pt*ph*pw*C] with N = (T/pt)(H/ph)(W/pw)."""
    b, c, t, h, w = video.shape
    pt, ph, pw = patch
    if t % pt or h % ph or w % pw:
        raise ValueError(f"Video T,H,W = {t},{h},{w} not divisible by the patch {tuple(patch)}.")
    x = video.reshape(b, c, t // pt, pt, h // ph, ph, w // pw, pw)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # [B,t,h,w,pt,ph,pw,C]
    return x.reshape(b, (t // pt) * (h // ph) * (w // pw), pt * ph * pw * c)


def unpatchify(x: torch.Tensor, patch: Sequence[int], grid: Sequence[int]) -> torch.Tensor:
    """Inverse of patchify: [B, N, pt*ph*pw*C] with grid (t,h,w) -> [B,C,T,H,W]."""
    b, n, d = x.shape
    pt, ph, pw = patch
    t, h, w = grid
    if n != t * h * w or d % (pt * ph * pw):
        raise ValueError(f"Cannot unpatchify [B,{n},{d}] with patch {patch} and grid {grid}.")
    c = d // (pt * ph * pw)
    x = x.reshape(b, t, h, w, pt, ph, pw, c).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.reshape(b, c, t * pt, h * ph, w * pw)


def videomae_patches(pixels: torch.Tensor, patch: Sequence[int]) -> torch.Tensor:
    """[0,1] clip -> patches [B, N, P, C] (P = pt*ph*pw pixels), before normalisation."""
    c = pixels.shape[1]
    x = patchify(pixels, patch)
    return x.view(*x.shape[:2], -1, c)


def denormalize_videomae_patches(
    pred: torch.Tensor, video: torch.Tensor, patch: Sequence[int]
) -> torch.Tensor:
    """Undo VideoMAE's per-patch normalisation of predictions with each patch's own stats.

    pred: [B, N, P*C] normalised predictions in (pixel, channel) order; video: the clip the
    statistics come from, [B,C,T,H,W] pixels in [0,1] (`Normalize.unit` of a uint8 clip).
    Returns [B, N, P*C] pixels in [0,1] space: pred * (std_unbiased + 1e-6) + mean, per patch
    and channel. unpatchify() turns it into a clip.
    """
    x = videomae_patches(video.float(), patch)  # [B,N,P,C]
    mu = x.mean(dim=2, keepdim=True)
    sd = x.var(dim=2, unbiased=True, keepdim=True).sqrt() + EPS
    out = pred.float().view(x.shape) * sd + mu
    return out.flatten(2)


class PixelTarget(nn.Module):
    """Pixel regression target: clip [B,C,T,H,W] -> [B, N, dim] float32, without grad.

    The objective feeds the clip named by `input_space` (docs/reference.md §4), computed from the
    loader's uint8 clip without a round trip through the normalised one:
    norm="videomae" ("unit": pixels x/255 in [0,1]): per patch and channel
      (x-mean)/(std_unbiased+1e-6); dim = pt*ph*pw*C (1536 for 2x16x16).
    norm="maest" ("normalized": the clip after DATA.MEAN/STD, from which MAE-spacetime
      computes its target): one time slice per token, frames linspace(0, T-1, T/pt) truncated
      (0,2,...,12,15 for T=16: not always the first frame of the temporal patch); each
      ph*pw*C vector normalised as (x-mean)/sqrt(var_unbiased+1e-6) (torch.var's default, as
      published); dim = ph*pw*C (768).
    norm="none" ("unit"): raw [0,1] pixels in (pixel, channel) order; dim = pt*ph*pw*C.
    """

    def __init__(
        self,
        patch_size: Sequence[int] = (2, 16, 16),
        norm: str = "videomae",
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"Pixel target norm must be one of {NORMS}; got {norm!r}.")
        self.patch_size = tuple(int(p) for p in patch_size)
        self.norm = norm
        pt, ph, pw = self.patch_size
        self.dim = (1 if norm == "maest" else pt) * ph * pw * in_chans

    @property
    def input_space(self) -> str:
        """ "unit" ([0,1] pixels) or "normalized" (the clip after DATA.MEAN/STD)."""
        return "normalized" if self.norm == "maest" else "unit"

    @torch.no_grad()
    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """[B,C,T,H,W] clip in `input_space` -> [B, N, dim] float32."""
        with torch.autocast(video.device.type, enabled=False):
            video = video.float()
            if self.norm == "maest":
                return self._maest(video)
            if self.norm == "none":
                return patchify(video, self.patch_size)
            x = videomae_patches(video, self.patch_size)  # [B,N,P,C]
            mu = x.mean(dim=2, keepdim=True)
            sd = x.var(dim=2, unbiased=True, keepdim=True).sqrt()
            return ((x - mu) / (sd + EPS)).flatten(2)

    def _maest(self, video: torch.Tensor) -> torch.Tensor:
        pt, ph, pw = self.patch_size
        t = video.shape[2]
        if t % pt:
            raise ValueError(f"Pixel target: T={t} not divisible by the temporal patch {pt}.")
        idx = torch.linspace(0, t - 1, t // pt).long().to(video.device)
        x = patchify(torch.index_select(video, 2, idx), (1, ph, pw))  # [B,N,ph*pw*C]
        mu = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True)
        return (x - mu) / (var + EPS) ** 0.5

    @classmethod
    def from_config(cls, cfg: CfgNode, patch_size: Sequence[int]) -> dict:
        """Constructor keywords from cfg.TARGET."""
        return dict(patch_size=tuple(patch_size), norm=cfg.TARGET.PIXEL_NORM)

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}, norm={self.norm!r}, dim={self.dim}"
