"""Loader benchmark: clips/s of the training pipeline, per core and through a DataLoader.

``python tools/benchmark.py loader [--data DIR] [--cfg CFG] [--opts KEY VALUE ...]``. Without
``--data`` (and without DATA.DEMO) it writes 320x240 H.264 videos to a temporary folder:
``--content smooth`` (default) pans over a smooth textured scene with a moving object, encoded
like a YouTube/Kinetics re-encode (libx264 preset medium with B-frames, crf 23, keyframe every
2 s); ``--content noise --crf 18`` is the worst case (per-frame noise, large frames).

Every augmented clip counts (K repeated samples of one decoded video are K clips). Figures:

- ``per_core_clips_s``: clips per CPU-second of dataset items in this process with
  ``torch.set_num_threads(1)`` (CPU time, so insensitive to other processes on the machine),
  with its ``decode_ms`` / ``transform_ms`` split (transform per augmented clip);
- ``loader_clips_s``: wall-clock clips/s of a DataLoader with ``--workers`` processes and
  ``worker_cpu_ms_per_clip`` the CPU time the workers spent per clip;
- ``seq_decode_limit_clips_s``: the sequential-decode limit, the clips/s a decoder reaches that
  decodes, at the full sequential-decode speed of these files, every frame from the keyframe
  before each clip to its last frame (no RGB conversion). Medians over ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import tempfile
import time

import numpy as np
import torch

logger = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cfg", nargs="*", default=[], help="config files")
    parser.add_argument("--opts", nargs="*", default=[], help="KEY VALUE overrides")
    parser.add_argument("--data", default="", help="folder with train.csv (default: generate)")
    parser.add_argument("--num-videos", type=int, default=8, help="videos to generate")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each video")
    parser.add_argument("--content", choices=("smooth", "noise"), default="smooth")
    parser.add_argument("--crf", type=int, default=23, help="x264 crf of generated videos")
    parser.add_argument("--gop", type=int, default=60, help="keyframe interval (frames)")
    parser.add_argument("--clips", type=int, default=32, help="dataset items timed per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per setting (median)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1])
    parser.add_argument("--repeats", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--decoders", nargs="*", default=["pyav"])
    parser.add_argument(
        "--uint8", action="store_true", help="no-op: the loaders always ship uint8 clips"
    )


def _smooth_scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth 'natural' image: a sum of bicubically upsampled noise octaves."""
    img = np.full((height, width, 3), 120.0, np.float32)
    for cell, amplitude in ((64, 70.0), (16, 35.0), (4, 12.0)):
        coarse = rng.standard_normal((1, 3, height // cell + 3, width // cell + 3))
        up = torch.nn.functional.interpolate(
            torch.from_numpy(coarse.astype(np.float32)),
            scale_factor=cell,
            mode="bicubic",
            align_corners=False,
        )[0, :, cell : cell + height, cell : cell + width]
        img += up.permute(1, 2, 0).numpy() * amplitude
    return img


def render_video(
    rng: np.random.Generator, num_frames: int, content: str, size: tuple[int, int] = (240, 320)
) -> np.ndarray:
    """uint8 [T,H,W,3]: a slow pan over a smooth scene plus a moving textured object
    (``smooth``), or coarse random blocks with fresh per-frame noise (``noise``)."""
    height, width = size
    out = np.empty((num_frames, height, width, 3), np.uint8)
    if content == "noise":
        blocks = rng.integers(30, 220, (height // 8, width // 8, 3)).astype(np.float32)
        base = blocks.repeat(8, 0).repeat(8, 1)
        for t in range(num_frames):
            noise = rng.standard_normal((height, width, 1), dtype=np.float32) * 12
            out[t] = np.clip(np.roll(base, 2 * t, axis=1) + noise, 0, 255)
        return out
    pad = width // 2
    scene = _smooth_scene(rng, height + pad, width + 2 * pad)
    obj = _smooth_scene(rng, height // 3, height // 3)
    side = obj.shape[0]
    vx, vy = rng.uniform(-1.5, 1.5), rng.uniform(-0.4, 0.4)  # pan, pixels per frame
    for t in range(num_frames):
        x, y = int(pad + vx * t) % pad, int(pad / 2 + vy * t) % pad
        frame = scene[y : y + height, x : x + width].copy()
        ox = int((width - side) * (0.5 + 0.45 * np.sin(t / 25)))
        oy = int((height - side) * (0.5 + 0.4 * np.cos(t / 31)))
        frame[oy : oy + side, ox : ox + side] = obj
        out[t] = np.clip(frame, 0, 255)
    return out


def write_h264(path: str, frames: np.ndarray, *, crf: int, gop: int, fps: int = 30) -> None:
    """libx264 preset medium (B-frames on), yuv420p, ``crf``, a keyframe every ``gop`` frames."""
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium", "g": str(gop), "threads": "1"}
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())


def write_videos(root: str, num: int, seconds: float, content: str, crf: int, gop: int) -> None:
    """``num`` benchmark videos and ``root/train.csv``."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(num):
        frames = render_video(rng, max(1, int(seconds * 30)), content)
        write_h264(os.path.join(root, f"clip{i}.mp4"), frames, crf=crf, gop=gop)
        lines.append(f"clip{i}.mp4 {i % 2}")
    with open(os.path.join(root, "train.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")


def decode_limit(dataset) -> dict:
    """Sequential-decode limit: full-decode speed (1 thread, no RGB conversion) and the mean
    number of frames from the keyframe before a clip to its last frame, averaged over every
    start position of a ``num_frames * sampling_rate`` span (video fps = target fps)."""
    import av

    seconds = frames = 0.0
    needed = []
    span = dataset.num_frames * dataset.sampling_rate
    for record in dataset.records[:4]:
        keys = []
        t0 = time.process_time()
        with av.open(record.path) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            for n, frame in enumerate(container.decode(stream)):
                if frame.key_frame:
                    keys.append(n)
        seconds += time.process_time() - t0
        frames += n + 1
        for start in range(max(1, n + 2 - span)):
            key = max(k for k in keys if k <= start)
            needed.append(min(start + span, n + 1) - key)
    return {"seq_decode_fps": frames / seconds, "frames_per_clip": float(np.mean(needed))}


def _time_items(dataset, clips: int, seed: int) -> tuple[float, float, float]:
    """CPU ms per item, decode ms per video and transform ms per augmented clip."""
    torch.set_num_threads(1)
    n = len(dataset)
    t0 = time.process_time()
    for i in range(clips):
        dataset[(i % n, seed + i)]
    item = (time.process_time() - t0) / clips
    decode = transform = 0.0
    for i in range(clips):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + i)
            t0 = time.process_time()
            frames = dataset.load_frames(i % n, -1)
            t1 = time.process_time()
            dataset.transform(frames)
            transform += time.process_time() - t1
            decode += t1 - t0
    return item * 1e3, decode / clips * 1e3, transform / clips * 1e3


def _time_loader(dataset, workers: int, clips: int, seed: int) -> tuple[float, float]:
    """Wall-clock clips/s of a DataLoader (after its first batch) and worker CPU ms per clip."""
    from videossl.data.build import collate

    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=1,
        num_workers=workers,
        collate_fn=collate,
        sampler=torch.utils.data.RandomSampler(
            dataset, replacement=True, num_samples=clips + workers * 2
        ),
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    done, start = 0, None
    for batch in loader:
        if start is None:  # exclude worker start-up
            start = time.perf_counter()
            continue
        done += batch["video"].shape[0]
    wall = time.perf_counter() - start
    del loader  # workers exit and are reaped: their CPU time shows up in RUSAGE_CHILDREN
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    total = done + dataset.num_repeated  # the first batch was excluded from the wall time
    return done / wall, worker_cpu / total * 1e3


def _load_cfg(args: argparse.Namespace):
    from videossl.config import get_defaults, load_config

    if args.cfg:
        cfg = load_config(args.cfg, args.opts)
        cfg.defrost()  # the benchmark points it at its own data, decoders and repeats
        return cfg
    cfg = get_defaults()
    cfg.merge_from_list(args.opts)
    return cfg


def run(args: argparse.Namespace) -> dict:
    from videossl.data.build import build_dataset

    cfg = _load_cfg(args)
    tmp = None
    if args.data:
        cfg.DATA.PATH_TO_DATA_DIR = args.data
    elif not cfg.DATA.DEMO:
        tmp = tempfile.TemporaryDirectory()
        write_videos(tmp.name, args.num_videos, args.seconds, args.content, args.crf, args.gop)
        cfg.DATA.PATH_TO_DATA_DIR = tmp.name
    cfg.DATA.DATASET = "kinetics"
    cfg.OUTPUT_DIR = tempfile.mkdtemp()
    results: dict = {"load_average": os.getloadavg()}
    for decoder in args.decoders:
        cfg.DATA.DECODER = decoder
        for repeats in args.repeats:
            cfg.DATA.NUM_REPEATED_SAMPLES = repeats
            dataset = build_dataset(cfg, "train")
            if "seq_decode_fps" not in results:
                results.update(decode_limit(dataset))
                limit = results["seq_decode_fps"] / results["frames_per_clip"]
                results["seq_decode_limit_clips_s"] = limit
            runs = [_time_items(dataset, args.clips, seed=1000 * r) for r in range(args.runs)]
            item, decode, transform = (statistics.median(x) for x in zip(*runs))
            row = {
                "per_core_clips_s": round(repeats * 1e3 / item, 1),
                "decode_ms": round(decode, 1),
                "transform_ms": round(transform, 1),
                "decode_vs_limit": round(1e3 / decode / results["seq_decode_limit_clips_s"], 2),
            }
            for workers in args.workers:
                timed = [_time_loader(dataset, workers, args.clips, r) for r in range(args.runs)]
                rate, cpu = (statistics.median(x) for x in zip(*timed))
                row[f"loader_clips_s_w{workers}"] = round(rate, 1)
                row[f"worker_cpu_ms_per_clip_w{workers}"] = round(cpu, 1)
            results[f"{decoder} K={repeats}"] = row
            logger.info("%s K=%d: %s", decoder, repeats, row)
    results["load_average_end"] = os.getloadavg()
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    results["peak_rss_mb"] = {"main": round(self_mb), "largest_worker": round(child_mb)}
    if tmp is not None:
        tmp.cleanup()
    return results
