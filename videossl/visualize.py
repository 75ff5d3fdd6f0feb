"""Plotting helpers: masks over frames, HOG glyphs, reconstructions (PNG via matplotlib Agg).

Frames are float [3,T,H,W] in [0,1]. Figures are built with matplotlib.figure.Figure (no
pyplot, so no global backend state) and written with the Agg canvas.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from videossl.masking import mask_to_grid

logger = logging.getLogger(__name__)

MASK_COLOR = np.array([0.1, 0.4, 1.0])


def synthetic_clip(num_frames: int = 16, size: int = 224, square: int = 0) -> torch.Tensor:
    """A bright square moving diagonally over a gradient background: [3,T,size,size] in [0,1]."""
    square = square or max(size // 4, 4)
    ramp = torch.linspace(0.1, 0.5, size)
    clip = (
        torch.stack(
            [
                ramp.view(1, -1).expand(size, size),
                ramp.view(-1, 1).expand(size, size),
                torch.full((size, size), 0.3),
            ]
        )
        .unsqueeze(1)
        .repeat(1, num_frames, 1, 1)
    )
    for t in range(num_frames):
        pos = int((size - square) * t / max(num_frames - 1, 1))
        clip[0, t, pos : pos + square, pos : pos + square] = 0.95
        clip[1, t, pos : pos + square, pos : pos + square] = 0.85
        clip[2, t, pos : pos + square, pos : pos + square] = 0.2
    return clip.contiguous()


def resize_center_crop(frames: torch.Tensor, size: int) -> torch.Tensor:
    """[3,T,H,W] -> [3,T,size,size]: short side to `size` (bilinear), centre crop."""
    _, _, h, w = frames.shape
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(frames.transpose(0, 1), size=(nh, nw), mode="bilinear", align_corners=False)
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[:, :, top : top + size, left : left + size].transpose(0, 1).clamp(0, 1).contiguous()


def read_clip(path: str, num_frames: int, size: int) -> torch.Tensor:
    """First `num_frames` frames of a video decoded with PyAV: [3,T,size,size] in [0,1].

    Short videos repeat their last frame.
    """
    import av

    frames = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            frames.append(torch.from_numpy(frame.to_ndarray(format="rgb24")))
            if len(frames) == num_frames:
                break
    if not frames:
        raise ValueError(f"No video frames could be decoded from {path}.")
    frames += [frames[-1]] * (num_frames - len(frames))
    clip = torch.stack(frames).permute(3, 0, 1, 2).float() / 255.0  # [3,T,H,W]
    return resize_center_crop(clip, size)


def _image(frames: torch.Tensor, t: int) -> np.ndarray:
    return frames[:, t].permute(1, 2, 0).clamp(0, 1).cpu().numpy()


def _save(fig: Figure, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    logger.info("wrote %s", path)
    return path


def plot_masks(
    frames: torch.Tensor,
    masks: torch.Tensor,
    path: str,
    max_frames: int = 8,
    title: str = "",
) -> str:
    """Grid of frames (columns) x mask samples (rows) with masked units tinted.

    frames [3,T,H,W] in [0,1]; masks bool [K,t,h,w] on any grid dividing (T,H,W).
    """
    _, t_in, h_in, w_in = frames.shape
    k, t, h, w = masks.shape
    pixel = mask_to_grid(masks.cpu(), (t_in, h_in, w_in)).numpy()  # [K,T,H,W]
    step = max(1, math.ceil(t_in / max_frames))
    cols = list(range(0, t_in, step))
    fig = Figure(figsize=(2 * len(cols), 2 * k + 0.4))
    for r in range(k):
        for c, ti in enumerate(cols):
            ax = fig.add_subplot(k, len(cols), r * len(cols) + c + 1)
            img = _image(frames, ti)
            m = pixel[r, ti][..., None]
            ax.imshow(np.where(m, 0.35 * img + 0.65 * MASK_COLOR, img))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {ti}", fontsize=8)
        fig.axes[r * len(cols)].set_ylabel(f"{int(masks[r].sum())}/{t * h * w}", fontsize=8)
    fig.suptitle(title or f"masks on a {t}x{h}x{w} grid (tinted = masked)", fontsize=10)
    return _save(fig, path)


def hog_glyph_segments(hist: np.ndarray, cell_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Line segments for HOG glyphs: hist [nbins,Hc,Wc] -> (segments [S,2,2], weights [S]).

    Bin k (phase atan2(gx, gy) in [kπ/n, (k+1)π/n)) is drawn at its centre angle φ as an
    edge line through the cell centre along (cos φ, -sin φ) in image (x right, y down)
    coordinates, perpendicular to the gradient; length proportional to the bin's value.
    """
    nbins, hc, wc = hist.shape
    phi = (np.arange(nbins) + 0.5) * np.pi / nbins
    direction = np.stack([np.cos(phi), -np.sin(phi)], axis=1)  # [nbins, 2]
    weights = hist / max(float(hist.max()), 1e-12)
    yy, xx = np.meshgrid(np.arange(hc), np.arange(wc), indexing="ij")
    centres = np.stack([xx, yy], axis=-1).reshape(-1, 2) * cell_size + cell_size / 2  # [C,2]
    half = 0.5 * cell_size * weights.reshape(nbins, -1).T[..., None] * direction  # [C,n,2]
    segs = np.stack([centres[:, None] - half, centres[:, None] + half], axis=2)  # [C,n,2,2]
    return segs.reshape(-1, 2, 2), weights.reshape(nbins, -1).T.reshape(-1)


def plot_hog(
    frames: torch.Tensor,
    hist: torch.Tensor,
    path: str,
    cell_size: int,
    frame_stride: int,
    max_rows: int = 4,
) -> str:
    """Each used frame next to its HOG glyphs (channels averaged).

    frames [3,T,H,W] in [0,1]; hist [3,nbins,T',Hc,Wc] from `hog_cells` (frames 0, s, 2s...).
    """
    rows = min(hist.shape[2], max_rows)
    _, _, h, w = frames.shape
    fig = Figure(figsize=(8, 4 * rows))
    for r in range(rows):
        ax = fig.add_subplot(rows, 2, 2 * r + 1)
        ax.imshow(_image(frames, r * frame_stride))
        ax.set_title(f"frame {r * frame_stride}", fontsize=9)
        ax = fig.add_subplot(rows, 2, 2 * r + 2)
        segs, weights = hog_glyph_segments(hist[:, :, r].mean(0).cpu().numpy(), cell_size)
        keep = weights > 0.05
        colors = np.zeros((int(keep.sum()), 4))
        colors[:, :3] = 1.0
        colors[:, 3] = weights[keep]
        ax.add_collection(LineCollection(segs[keep], colors=colors, linewidths=0.8))
        ax.set_facecolor("black")
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_aspect("equal")
        ax.set_title(f"HOG glyphs ({cell_size}px cells)", fontsize=9)
        for a in fig.axes[-2:]:
            a.set_xticks([])
            a.set_yticks([])
    return _save(fig, path)


def plot_reconstruction(
    frames: torch.Tensor,
    mask: torch.Tensor,
    recon: torch.Tensor,
    path: str,
    max_frames: int = 8,
    time_stride: int | None = None,
    titles: Sequence[str] = ("original", "masked input", "reconstruction", "recon + visible"),
) -> str:
    """Rows: original, masked input, reconstruction, reconstruction with visible pixels pasted.

    frames, recon [3,T,H,W] in [0,1] (recon e.g. unpatchify(denormalize_videomae_patches(...)));
    mask bool [t,h,w] on any grid dividing (T,H,W) (True = masked).
    """
    _, t_in, h_in, w_in = frames.shape
    pixel = mask_to_grid(mask[None].cpu(), (t_in, h_in, w_in))[0]  # [T,H,W]
    pixel = pixel[None].float()
    masked = frames.cpu() * (1 - pixel) + 0.5 * pixel
    pasted = recon.cpu() * pixel + frames.cpu() * (1 - pixel)
    step = time_stride or max(1, math.ceil(t_in / max_frames))
    cols = list(range(0, t_in, step))
    fig = Figure(figsize=(2 * len(cols), 8.4))
    for r, clip in enumerate((frames.cpu(), masked, recon.cpu(), pasted)):
        for c, ti in enumerate(cols):
            ax = fig.add_subplot(4, len(cols), r * len(cols) + c + 1)
            ax.imshow(_image(clip, ti))
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(titles[r], fontsize=8)
    return _save(fig, path)
