"""Loader benchmark: clips/s of the training pipeline per worker process.

``python tools/benchmark.py loader [--data DIR] [--cfg CFG] [--opts KEY VALUE ...]``. Without
``--data`` it writes 320x240 H.264 clips (a few seconds each) to a temporary folder.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import tempfile
import time

import numpy as np
import torch

logger = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cfg", nargs="*", default=[], help="config files")
    parser.add_argument("--opts", nargs="*", default=[], help="KEY VALUE overrides")
    parser.add_argument("--data", default="", help="folder with train.csv (default: generate)")
    parser.add_argument("--num-videos", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clips", type=int, default=48, help="clips timed per setting")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--repeats", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--decoders", nargs="*", default=["pyav"])


def _write_clips(root: str, num: int, seconds: float) -> None:
    from videossl.data.demo import write_video

    rng = np.random.default_rng(0)
    lines = []
    for i in range(num):
        n = int(seconds * 30)
        base = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
        shift = np.arange(n) * 2
        frames = np.stack([np.roll(base, s, axis=1) for s in shift])
        write_video(os.path.join(root, f"clip{i}.mp4"), frames)
        lines.append(f"clip{i}.mp4 0")
    with open(os.path.join(root, "train.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")


def _time_loader(dataset, workers: int, clips: int) -> float:
    from videossl.data.build import collate

    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=1,
        num_workers=workers,
        collate_fn=collate,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
        persistent_workers=False,
        prefetch_factor=4,
    )
    done, start = 0, None
    while done < clips:
        for batch in loader:
            if start is None:  # exclude worker start-up
                start, done = time.perf_counter(), 0
            done += batch["video"].shape[0] // max(1, dataset.num_repeated)
            if done >= clips:
                break
    return done / (time.perf_counter() - start)


def _time_stages(dataset, n: int = 8) -> tuple[float, float]:
    """Seconds per clip in decoding and in transforming (single process)."""
    torch.set_num_threads(1)
    decode = transform = 0.0
    for i in range(n):
        t0 = time.perf_counter()
        frames = dataset.load_frames(i % dataset.num_videos, -1)
        t1 = time.perf_counter()
        dataset.transform(frames)
        transform += time.perf_counter() - t1
        decode += t1 - t0
    return decode / n, transform / n


def run(args: argparse.Namespace) -> dict:
    from videossl.config import load_config
    from videossl.data.build import build_dataset

    cfg = load_config(args.cfg, args.opts) if args.cfg else None
    if cfg is None:
        from videossl.config import get_defaults

        cfg = get_defaults()
        cfg.merge_from_list(args.opts)
    tmp = None
    if args.data:
        cfg.DATA.PATH_TO_DATA_DIR = args.data
    elif not cfg.DATA.DEMO:
        tmp = tempfile.TemporaryDirectory()
        _write_clips(tmp.name, args.num_videos, args.seconds)
        cfg.DATA.PATH_TO_DATA_DIR = tmp.name
    cfg.DATA.DATASET = "kinetics"
    cfg.OUTPUT_DIR = tempfile.mkdtemp()
    results = {}
    for decoder in args.decoders:
        for repeats in args.repeats:
            cfg.DATA.DECODER, cfg.DATA.NUM_REPEATED_SAMPLES = decoder, repeats
            dataset = build_dataset(cfg, "train")
            decode_s, transform_s = _time_stages(dataset)
            for workers in args.workers:
                rate = _time_loader(dataset, workers, args.clips)
                key = f"{decoder} K={repeats} workers={workers}"
                results[key] = {
                    "clips_per_s": rate,
                    "clips_per_s_per_worker": rate / workers,
                    "decode_ms_per_clip": decode_s * 1e3,
                    "transform_ms_per_clip": transform_s * 1e3,
                }
                logger.info(
                    "%s: %.1f clips/s (%.1f per worker); decode %.1f ms, transform %.1f ms "
                    "per clip (x K)",
                    key,
                    rate,
                    rate / workers,
                    decode_s * 1e3,
                    transform_s * 1e3,
                )
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if tmp is not None:
        tmp.cleanup()
    return results
