"""The `data_feed` section: the real loader's clips/s on generated 320x240 H.264 clips."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

from .common import TINY_DATA, device_of, sync


def section_data_feed(args: argparse.Namespace) -> dict[str, Any]:
    """The real loader (make_loader over the kinetics dataset) on generated 320x240 H.264."""
    from videossl.models.normalize import Normalize

    device = device_of(args)
    cores = len(os.sched_getaffinity(0))
    workers = min(2, cores) if args.dry_run else cores
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        num_videos = 2 if args.dry_run else 8
        _write_clips(tmp, num_videos, args.dry_run)
        gen_s = time.perf_counter() - t0
        loader, cfg = _loader(tmp, args.dry_run, device, workers)
        normalize = Normalize(cfg.DATA.MEAN, cfg.DATA.STD).to(device)
        feed = _feed(loader, normalize, device, args.seconds)
        del loader
    return {
        "workers": workers,
        "videos": num_videos,
        "generate_s": round(gen_s, 1),
        "first_batch_s": round(feed["first"], 2),
        "clip_shape": feed["shape"],
        "loader_dtype": feed["dtype"],
        "normalised_dtype": feed["normalised_dtype"],
        "clips": feed["clips"],
        "loader_clips_per_s": round(feed["clips"] / feed["elapsed"], 2),
        "load_average": os.getloadavg(),
    }


def _write_clips(tmp: str, num_videos: int, dry_run: bool) -> None:
    """`num_videos` H.264 files and a train.csv listing them 64 times (a long epoch)."""
    from videossl.benchmarks.loader import write_videos

    write_videos(tmp, num_videos, 1.5 if dry_run else 4.0, "smooth", 23, 60)
    lines = open(os.path.join(tmp, "train.csv")).read().splitlines()
    with open(os.path.join(tmp, "train.csv"), "w") as f:
        f.write("\n".join(lines * 64) + "\n")  # a long epoch over the same files


def _loader(tmp: str, dry_run: bool, device, workers: int):
    """(make_loader over the kinetics train set in `tmp`, shipping uint8 clips; its config)."""
    from videossl.config import get_defaults
    from videossl.data.build import build_dataset, collate
    from videossl.data.loader import make_loader
    from videossl.data.options import transform_from_config

    cfg = get_defaults()
    cfg.DATA.PATH_TO_DATA_DIR = tmp
    cfg.DATA.DATASET = "kinetics"
    cfg.OUTPUT_DIR = tmp
    if dry_run:
        cfg.merge_from_list(TINY_DATA + ["DATA.SAMPLING_RATE", "2"])
    dataset = build_dataset(cfg, "train")
    dataset.transform = transform_from_config(cfg)  # uint8 clips (the loader contract)
    loader = make_loader(
        dataset,
        batch_size=2 if dry_run else 16,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        seed=0,
        collate_fn=collate,
    )
    return loader, cfg


def _feed(loader, normalize, device, seconds: float) -> dict[str, Any]:
    """Batches to the device and normalised for `seconds` after the first (worker start-up)."""
    clips, start, first = 0, None, None
    t0 = time.perf_counter()
    for batch in loader:
        video = normalize(batch["video"].to(device, non_blocking=True))
        if start is None:  # exclude worker start-up
            first = time.perf_counter() - t0
            start = time.perf_counter()
            continue
        clips += video.shape[0]
        if time.perf_counter() - start >= seconds:
            break
    sync(device)
    return {
        "first": first,
        "clips": clips,
        "elapsed": time.perf_counter() - start,
        "dtype": str(batch["video"].dtype),
        "shape": list(video.shape),
        "normalised_dtype": str(video.dtype),
    }
