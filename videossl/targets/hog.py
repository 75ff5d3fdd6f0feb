"""MaskFeat HOG target (PySlowFast-compatible definition, docs/reference.md §2).

Per selected frame and RGB channel: reflect-pad 1, Sobel kx = [[1,0,-1],[2,0,-2],[1,0,-1]] and
ky = kxᵀ (cross-correlation), magnitude sqrt(gx²+gy²), phase atan2(gx, gy) (this order),
bin = floor(phase/π·nbins) mod nbins (unsigned, hard assignment); magnitudes summed into
cell_size² cells (optionally weighted by a gaussian window tiled per token); each cell's
histogram L2-normalised per channel.

Float-exact with PySlowFast's HOGLayerC (max |Δ| < 1e-6, tested on random floats, smooth and
8-bit quantised images and decoded H.264 video): the gradients are the same grouped conv2d,
so ties (gx = 0, bin 0 vs 8) and the ~1e-6 leftovers of flat regions (which the L2
normalisation turns into unit-norm histograms, as in HOGLayerC) come out the same.

Mathematically the mean/std normalisation of the input does not change the result (Sobel
kernels sum to zero, and a per-channel positive scale cancels in the L2 normalisation). In
float the rounding of those leftovers and ties does depend on the input values: the objective
feeds the clip after its own normalisation (``input_space = "normalized"``), as PySlowFast
feeds HOGLayerC.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from fvcore.common.config import CfgNode
from torch import nn

__all__ = [
    "HOGTarget",
    "gaussian_window_2d",
    "hog_cells",
    "hog_reference",
    "sobel_gradients",
    "sobel_kernels",
]


def sobel_kernels() -> tuple[torch.Tensor, torch.Tensor]:
    """(kx, ky) 3x3 Sobel kernels with the reference sign convention."""
    kx = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    return kx, kx.t().contiguous()


def gaussian_window_2d(size: int, std: float) -> torch.Tensor:
    """[size, size] gaussian weights summing to 1 (PySlowFast's get_gkern)."""
    n = torch.arange(size, dtype=torch.float32)
    n = (n - n.mean()) / std
    g = torch.exp(-0.5 * n**2)
    g2 = g[:, None] * g[None, :]
    return g2 / g2.sum()


def _check_shape(video: torch.Tensor, frame_stride: int, cell_size: int) -> None:
    if video.dim() != 5:
        raise ValueError(f"HOG expects a video [B,C,T,H,W]; got shape {tuple(video.shape)}.")
    _, _, t, h, w = video.shape
    if t % frame_stride or h % cell_size or w % cell_size:
        raise ValueError(
            f"HOG needs T divisible by the frame stride {frame_stride} and H, W by the cell "
            f"size {cell_size}; got T,H,W = {t},{h},{w}."
        )


def _window_map(window: torch.Tensor | None, h: int, w: int) -> torch.Tensor | None:
    """The gaussian window tiled over an [h, w] image, or None."""
    if window is None:
        return None
    wh, ww = window.shape
    if h % wh or w % ww:
        raise ValueError(f"Gaussian window {wh}x{ww} does not tile a {h}x{w} frame.")
    return window.repeat(h // wh, w // ww)


def sobel_gradients(
    frames: torch.Tensor, *, channels_last: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(gx, gy) of frames [N, C, H, W]: reflect pad 1, then a grouped (per channel) conv2d.

    The same arithmetic as PySlowFast's HOGLayerC (same kernels, padding, dtype and conv call),
    so the float rounding is the same: separable shifts would round differently, which flips
    bins at gx = 0 ties (common with 8-bit input) and changes the ~1e-6 leftovers in flat
    regions that the L2 normalisation later turns into unit-norm histograms.

    `channels_last=True` runs the same conv on channels-last (NHWC) memory, returned in that
    layout: on CPU oneDNN's depthwise kernel is then ~15x faster than on NCHW, and each output
    is still the 9 taps summed in kernel order (weights 0, ±1, ±2 make every product exact), so
    the values are bit-identical (tests/test_hog.py checks this against HOGLayerC).
    """
    c = frames.shape[1]
    kx, ky = sobel_kernels()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    wx = kx.view(1, 1, 3, 3).repeat(c, 1, 1, 1).to(frames).contiguous(memory_format=fmt)
    wy = ky.view(1, 1, 3, 3).repeat(c, 1, 1, 1).to(frames).contiguous(memory_format=fmt)
    x = F.pad(frames, (1, 1, 1, 1), mode="reflect").contiguous(memory_format=fmt)
    return F.conv2d(x, wx, groups=c), F.conv2d(x, wy, groups=c)


_CELL_MAPS: dict = {}


def _cell_offsets(
    h: int, w: int, c: int, cell: int, nbins: int, device: torch.device
) -> torch.Tensor:
    """[1, H*W*C] int64: the (cell, channel) slot of each pixel of an [H, W, C] image, times
    nbins, cells in row-major order: ((cy * Wc + cx) * C + channel) * nbins."""
    key = (h, w, c, cell, nbins, str(device))
    if key not in _CELL_MAPS:
        cy = torch.arange(h, device=device) // cell
        cx = torch.arange(w, device=device) // cell
        cells = cy[:, None, None] * (w // cell) + cx[None, :, None]
        slots = (cells * c + torch.arange(c, device=device)[None, None, :]) * nbins
        _CELL_MAPS[key] = slots.view(1, h * w * c)
    return _CELL_MAPS[key]


def hog_cells(
    video: torch.Tensor,
    *,
    cell_size: int = 8,
    nbins: int = 9,
    frame_stride: int = 2,
    window: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cell histograms of frames 0, s, 2s, ...: [B,C,T,H,W] -> [B,C,nbins,T/s,H/cell,W/cell].

    Values equal PySlowFast's HOGLayerC (up to float summation order, < 1e-6): frames are
    flattened into the batch ([B*T', C, H, W], as `_get_hog_label_3d` does), gradients by the
    same grouped conv2d, magnitude sqrt(gx²+gy²), bin floor(atan2(gx, gy)/π·nbins) mod nbins,
    `window` (optional [wh,ww] gaussian, tiled) multiplied into the magnitudes, cell sums,
    F.normalize (L2, eps 1e-12) per channel and cell. Faster than HOGLayerC by (1) running the
    conv on channels-last memory on CPU (bit-identical, see sobel_gradients; most of the
    gain), and (2) instead of a scatter into a full-resolution [.., nbins, H, W] tensor followed
    by unfold + sum, adding each pixel's magnitude straight into its (cell, channel, bin) slot
    of an [images, cells*C*nbins] histogram with one `scatter_add_`, in NHWC order (no
    nbins x H x W intermediate; each slot still sums its pixels in row-major order). On CPU
    the sums are sequential and
    deterministic; on CUDA scatter_add_ uses atomics, as HOGLayerC's does (order-dependent at
    ~1e-7). Computed in float32 (autocast off); returns float32.
    """
    _check_shape(video, frame_stride, cell_size)
    with torch.autocast(video.device.type, enabled=False):
        b, c = video.shape[:2]
        frames = video[:, :, ::frame_stride].transpose(1, 2).float()  # [B,T',C,H,W]
        t, h, w = frames.shape[1], frames.shape[3], frames.shape[4]
        x = frames.reshape(b * t, c, h, w).contiguous()
        # channels-last conv on CPU only (oneDNN; bit-identical there); CUDA keeps HOGLayerC's
        # NCHW call so that cuDNN picks the same algorithm as HOGLayerC does
        gx, gy = sobel_gradients(x, channels_last=x.device.type == "cpu")
        gx = gx.permute(0, 2, 3, 1).contiguous()  # [N,H,W,C]: a view on channels-last memory
        gy = gy.permute(0, 2, 3, 1).contiguous()
        mag = torch.hypot(gx, gy)
        wmap = _window_map(window, h, w)
        if wmap is not None:
            mag = mag * wmap.to(mag)[:, :, None]
        phase = torch.atan2(gx, gy).div_(math.pi).mul_(nbins)  # same rounding as a/π·n
        index = phase.floor_().remainder_(nbins).view(-1, h * w * c).long()  # [B*T', H*W*C]
        index += _cell_offsets(h, w, c, cell_size, nbins, index.device)
        hc, wc = h // cell_size, w // cell_size
        hist = torch.zeros(index.shape[0], hc * wc * c * nbins, device=x.device)
        hist.scatter_add_(1, index, mag.view(-1, h * w * c))
        hist = F.normalize(hist.view(-1, nbins), p=2, dim=1)
        return hist.view(b, t, hc, wc, c, nbins).permute(0, 4, 5, 1, 2, 3)


def hog_reference(
    video: torch.Tensor,
    *,
    cell_size: int = 8,
    nbins: int = 9,
    frame_stride: int = 2,
    window: torch.Tensor | None = None,
) -> torch.Tensor:
    """Straightforward scatter-add HOG (PySlowFast's HOGLayerC layout), same output as hog_cells.

    Frames are flattened into the batch, gradients by grouped conv2d, magnitudes scatter-added
    into a full-resolution [.., nbins, H, W] tensor, then summed per cell with unfold.
    """
    _check_shape(video, frame_stride, cell_size)
    b, c = video.shape[:2]
    frames = video[:, :, ::frame_stride].float().transpose(1, 2)  # [B,T',C,H,W]
    t = frames.shape[1]
    x = frames.flatten(0, 1)  # [BT',C,H,W]
    kx, ky = sobel_kernels()
    wx = kx.view(1, 1, 3, 3).repeat(c, 1, 1, 1).to(x)
    wy = ky.view(1, 1, 3, 3).repeat(c, 1, 1, 1).to(x)
    x = F.pad(x, (1, 1, 1, 1), mode="reflect")
    gx = F.conv2d(x, wx, groups=c)
    gy = F.conv2d(x, wy, groups=c)
    mag = torch.stack([gx, gy], dim=-1).norm(dim=-1)
    phase = torch.atan2(gx, gy) / math.pi * nbins
    n, _, h, w = mag.shape
    wmap = _window_map(window, h, w)
    if wmap is not None:
        mag = mag * wmap.to(mag)
    out = torch.zeros((n, c, nbins, h, w), dtype=mag.dtype, device=mag.device)
    out.scatter_add_(2, (phase.floor().long() % nbins).unsqueeze(2), mag.unsqueeze(2))
    out = out.unfold(3, cell_size, cell_size).unfold(4, cell_size, cell_size).sum(dim=(-1, -2))
    out = F.normalize(out, p=2, dim=2)  # [BT',C,nbins,Hc,Wc]
    return out.view(b, t, c, nbins, h // cell_size, w // cell_size).permute(0, 2, 3, 1, 4, 5)


def cells_to_tokens(hist: torch.Tensor, cells_per_token: Sequence[int]) -> torch.Tensor:
    """[B,C,nbins,T',Hc,Wc] -> [B, T'/ft * Hc/u * Wc/u, ft*C*nbins*u*u] tokens.

    cells_per_token = (ft frames, u cells, u cells). Tokens in (t,h,w) row-major order; values
    ordered (frame, channel, bin, cell row, cell column).
    """
    b, c, nb, t, hc, wc = hist.shape
    ft, uh, uw = cells_per_token
    x = hist.reshape(b, c, nb, t // ft, ft, hc // uh, uh, wc // uw, uw)
    x = x.permute(0, 3, 5, 7, 4, 1, 2, 6, 8)  # [B,t,h,w,ft,C,nb,uh,uw]
    return x.reshape(b, (t // ft) * (hc // uh) * (wc // uw), ft * c * nb * uh * uw)


class HOGTarget(nn.Module):
    """MaskFeat HOG target: normalised clip [B,3,T,H,W] -> [B, N, dim], computed without grad.

    N = (T/pt)(H/ph)(W/pw) tokens for patch_size (pt,ph,pw), in (t,h,w) row-major order.
    Frames 0, s, 2s, ... are used (s = frame_stride, default pt: the first frame of each
    temporal patch); s must divide pt, and each token holds the pt/s frames of its patch.
    dim = (pt/s)·3·nbins·(ph/cell)·(pw/cell) = 108 by default, ordered (frame, channel, bin,
    cell row, cell column). `gaussian_window=True` weights magnitudes by a gaussian of the
    token's size (std half of it), tiled per token.
    """

    # Which clip the objective feeds: the normalised one (docs/reference.md §2), not [0,1] pixels.
    input_space = "normalized"

    def __init__(
        self,
        patch_size: Sequence[int] = (2, 16, 16),
        cell_size: int = 8,
        nbins: int = 9,
        gaussian_window: bool = False,
        frame_stride: int | None = None,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        pt, ph, pw = (int(p) for p in patch_size)
        stride = pt if frame_stride is None else int(frame_stride)
        if pt % stride or ph % cell_size or pw % cell_size:
            raise ValueError(
                f"HOG: frame_stride {stride} must divide the temporal patch {pt}, and cell_size "
                f"{cell_size} must divide the spatial patch {ph}x{pw}."
            )
        self.patch_size = (pt, ph, pw)
        self.cell_size = int(cell_size)
        self.nbins = int(nbins)
        self.frame_stride = stride
        self.cells_per_token = (pt // stride, ph // cell_size, pw // cell_size)
        self.dim = in_chans * self.nbins * math.prod(self.cells_per_token)
        window = gaussian_window_2d(ph, ph // 2) if gaussian_window else None
        if window is not None and ph != pw:
            raise ValueError(f"Gaussian window needs a square patch; got {ph}x{pw}.")
        self.register_buffer("window", window, persistent=False)

    @torch.no_grad()
    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """[B,3,T,H,W] -> [B, N, dim] float32."""
        _, _, t, h, w = video.shape
        pt, ph, pw = self.patch_size
        if t % pt or h % ph or w % pw:
            raise ValueError(
                f"HOG target: input T,H,W = {t},{h},{w} not divisible by patch {self.patch_size}."
            )
        hist = hog_cells(
            video,
            cell_size=self.cell_size,
            nbins=self.nbins,
            frame_stride=self.frame_stride,
            window=self.window,
        )
        return cells_to_tokens(hist, self.cells_per_token)

    @classmethod
    def from_config(cls, cfg: CfgNode, patch_size: Sequence[int]) -> dict:
        """Constructor keywords from cfg.TARGET."""
        return dict(
            patch_size=tuple(patch_size),
            cell_size=cfg.TARGET.HOG_CELL_SIZE,
            nbins=cfg.TARGET.HOG_NBINS,
            gaussian_window=cfg.TARGET.HOG_GAUSSIAN_WINDOW,
            frame_stride=cfg.TARGET.HOG_FRAME_STRIDE or None,
        )

    def extra_repr(self) -> str:
        return (
            f"patch_size={self.patch_size}, cell_size={self.cell_size}, nbins={self.nbins}, "
            f"frame_stride={self.frame_stride}, dim={self.dim}"
        )
