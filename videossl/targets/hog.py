"""MaskFeat HOG target (PySlowFast-compatible definition, REFERENCE §2).

Per selected frame and RGB channel: reflect-pad 1, Sobel kx = [[1,0,-1],[2,0,-2],[1,0,-1]] and
ky = kxᵀ (cross-correlation), magnitude sqrt(gx²+gy²), phase atan2(gx, gy) (this order),
bin = floor(phase/π·nbins) mod nbins (unsigned, hard assignment); magnitudes summed into
cell_size² cells (optionally weighted by a gaussian window tiled per token); each cell's
histogram L2-normalised per channel.

The mean/std normalisation of the input does not change the result: Sobel kernels sum to zero
(mean shifts cancel, also with reflect padding) and a per-channel positive scale cancels in the
per-channel L2 normalisation. HOG therefore needs no mean/std; the arguments are accepted only
so every target has the same constructor keywords.
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


def sobel_gradients(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(gx, gy) of every channel of every frame, [..., H, W] each, by separable shifts.

    Equals cross-correlation with kx / ky after reflect padding by 1 (up to float rounding).
    """
    lead = frames.shape[:-2]
    x = frames.reshape(-1, 1, *frames.shape[-2:])
    p = F.pad(x, (1, 1, 1, 1), mode="reflect")[:, 0]  # [M, H+2, W+2]
    h, w = frames.shape[-2:]
    dx = p[:, :, :w] - p[:, :, 2:]  # [M, H+2, W]: column difference
    gx = dx[:, :h] + dx[:, 2:]
    gx.add_(dx[:, 1 : h + 1], alpha=2.0)
    dy = p[:, :h] - p[:, 2:]  # [M, H, W+2]: row difference
    gy = dy[:, :, :w] + dy[:, :, 2:]
    gy.add_(dy[:, :, 1 : w + 1], alpha=2.0)
    return gx.view(*lead, h, w), gy.view(*lead, h, w)


def _to_cells(x: torch.Tensor, cell: int, dtype: torch.dtype) -> torch.Tensor:
    """[..., H, W] -> [cells, cell*cell] with each cell's pixels contiguous."""
    h, w = x.shape[-2:]
    x = x.reshape(-1, h // cell, cell, w // cell, cell).transpose(2, 3)
    out = torch.empty(x.shape, dtype=dtype, device=x.device)
    return out.copy_(x).view(-1, cell * cell)


def hog_cells(
    video: torch.Tensor,
    *,
    cell_size: int = 8,
    nbins: int = 9,
    frame_stride: int = 2,
    window: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cell histograms of frames 0, s, 2s, ...: [B,C,T,H,W] -> [B,C,nbins,T/s,H/cell,W/cell].

    Scatter-free and without a Python loop over frames: the bin index of every pixel picks a
    row of an nbins x nbins identity in `embedding_bag`, weighted by the pixel's magnitude and
    summed per cell (a gather + segmented sum; deterministic on CPU and GPU).
    `window` is an optional [wh,ww] weight tiled over each frame (gaussian window).
    Computed in float32 (autocast off); returns float32.
    """
    _check_shape(video, frame_stride, cell_size)
    with torch.autocast(video.device.type, enabled=False):
        frames = video[:, :, ::frame_stride].float()
        b, c, t, h, w = frames.shape
        gx, gy = sobel_gradients(frames)  # [B,C,T',H,W]
        mag = torch.hypot(gx, gy)
        wmap = _window_map(window, h, w)
        if wmap is not None:
            mag = mag * wmap.to(mag)
        bins = torch.remainder(torch.floor(torch.atan2(gx, gy) / math.pi * nbins), nbins)
        eye = torch.eye(nbins, device=mag.device)
        hist = F.embedding_bag(
            _to_cells(bins, cell_size, torch.int32),
            eye,
            per_sample_weights=_to_cells(mag, cell_size, torch.float32),
            mode="sum",
        )  # [B*C*T'*Hc*Wc, nbins]
        hist = F.normalize(hist, p=2, dim=1)
        hist = hist.view(b, c, t, h // cell_size, w // cell_size, nbins)
        return hist.permute(0, 1, 5, 2, 3, 4)


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
    token's size (std half of it), tiled per token. `mean`/`std` are not needed (see module
    docstring) and ignored.
    """

    def __init__(
        self,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
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
