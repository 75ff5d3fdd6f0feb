"""HOG target benchmark: fast HOG (`hog_cells`) vs a HOGLayerC-style scatter-add implementation.

The baseline, `hog_reference`, is PySlowFast's HOGLayerC arithmetic written out: grouped conv2d
gradients (NCHW, as HOGLayerC), scatter-add of the magnitudes into a full-resolution
[.., nbins, H, W] tensor, unfold + sum into cells, L2 normalisation. `hog_cells` runs the same
conv2d on channels-last memory on CPU (bit-identical gradients, most of the gain) and adds each
pixel straight into its (cell, channel, bin) slot with one scatter_add_. The two are timed
alternately; `speedup` is the ratio of the median times (reference / fast); `max_abs_diff`
compares the two outputs. The default input
is an 8-bit clip normalised as the loader does (ties at gx = 0 and flat regions included).

Called by tools/benchmark.py as the `hog` subcommand: `add_args(parser)`, `run(args) -> dict`.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Callable

import torch

from videossl.targets.hog import hog_cells, hog_reference

logger = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shape",
        type=int,
        nargs=5,
        default=[2, 3, 16, 224, 224],
        metavar=("B", "C", "T", "H", "W"),
        help="input clip batch shape",
    )
    parser.add_argument(
        "--devices", nargs="+", default=None, help="devices to time (default: cpu, and cuda if any)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--input",
        choices=("uint8", "randn"),
        default="uint8",
        help="uint8: random 8-bit clip with flat blocks, normalised as the loader does; "
        "randn: standard normal floats",
    )


def make_input(shape: list[int], kind: str, seed: int) -> torch.Tensor:
    """A float clip of `shape` ([B,C,T,H,W]): normalised 8-bit content or randn floats."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "randn":
        return torch.randn(*shape, generator=gen)
    from videossl.config import get_defaults
    from videossl.models.normalize import Normalize

    clip = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
    h, w = shape[-2:]
    clip[..., : h // 2, : w // 2] = 128  # a flat quarter
    data = get_defaults().DATA
    return Normalize(data.MEAN, data.STD)(clip)


def _time_pair(
    fns: tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]],
    device: torch.device,
    repeats: int,
    warmup: int,
) -> tuple[float, float]:
    """Median wall-clock milliseconds of each of two functions, run alternately (fast,
    reference, fast, ...) so that a shared machine's changing load hits both alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: tuple[list, list] = ([], [])
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            out.append((time.perf_counter() - start) * 1000.0)
    fast, ref = (sorted(t)[len(t) // 2] for t in times)
    return fast, ref


def run_device(
    shape: list[int],
    device: torch.device,
    repeats: int,
    warmup: int,
    seed: int,
    kind: str = "uint8",
) -> dict:
    """Time both implementations on one device and compare their outputs."""
    video = make_input(shape, kind, seed).to(device)
    with torch.no_grad():
        fast = hog_cells(video)
        ref = hog_reference(video)
        diff = (fast - ref).abs()
        ms_fast, ms_ref = _time_pair(
            (lambda: hog_cells(video), lambda: hog_reference(video)), device, repeats, warmup
        )
    result = {
        "device": str(device),
        "shape": list(shape),
        "ms_fast": round(ms_fast, 3),
        "ms_reference": round(ms_ref, 3),
        "ms_fast_per_clip": round(ms_fast / shape[0], 3),
        "speedup": round(ms_ref / ms_fast, 2),
        "max_abs_diff": float(diff.max()),
        "cells_differing": int((diff.amax(dim=2) > 1e-5).sum()),
        "equal": bool(torch.allclose(fast, ref, atol=1e-5, rtol=0)),
    }
    logger.info("hog %s", result)
    return result


def run(args: argparse.Namespace) -> dict:
    """Flat dict: `shape`, and per device `<device>_ms_fast`, `_ms_reference`, `_speedup`, ...

    Devices: --devices, else cpu and (when available) cuda.
    """
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    out: dict = {"shape": list(args.shape), "input": args.input}
    for d in devices:
        res = run_device(
            list(args.shape), torch.device(d), args.repeats, args.warmup, args.seed, args.input
        )
        out.update({f"{d}_{k}": v for k, v in res.items() if k not in ("device", "shape")})
    return out
