#!/usr/bin/env python
"""Extract AVA frames with PyAV: `<out>/<video_id>/<video_id>_%06d.jpg` at 30 fps from 900 s.

    python tools/prepare_ava.py --videos data/ava/videos --out data/ava/frames [--workers 8]

Each movie `<video_id>.<ext>` in --videos gives the frames of seconds [start, end) resampled
to --fps (frame k shows time start + k/fps), numbered from 1, as the AVA dataset expects
(AVA.FRAME_DIR, AVA.FPS, AVA.VIDEO_START_SEC). Videos already complete are skipped, so an
interrupted run can be restarted. See data_lists/AVA.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed

import av
import torch
from torchvision.io import write_jpeg
from torchvision.transforms.v2 import functional as F
from tqdm import tqdm

VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov")


def extract(
    path: str, out_dir: str, *, fps: int, start: float, end: float, short_side: int, quality: int
) -> tuple[str, int]:
    """Write the frames of one video; returns (video_id, number of frames written)."""
    video_id = os.path.splitext(os.path.basename(path))[0]
    folder = os.path.join(out_dir, video_id)
    expected = int(round((end - start) * fps))
    done = os.path.join(folder, ".complete")
    if os.path.isfile(done):
        return video_id, expected
    os.makedirs(folder, exist_ok=True)
    written = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        container.seek(int(max(start - 1.0, 0) / stream.time_base), stream=stream)
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            t = float(frame.pts * stream.time_base)
            # this frame stands for every output time in [t, next frame): write the output
            # frames whose time has been reached
            while written < expected and start + written / fps <= t + 0.5 / fps:
                image = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)
                if short_side:
                    image = F.resize(image, [short_side], antialias=True)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    name = f"{video_id}_{written + 1:06d}.jpg"
                    write_jpeg(image.contiguous(), os.path.join(folder, name), quality=quality)
                written += 1
            if written >= expected:
                break
    if written < expected:
        raise RuntimeError(
            f"only {written} of {expected} frames between {start}s and {end}s; "
            "is the movie shorter, or a trimmed clip (then set --start 0)?"
        )
    open(done, "w").close()
    return video_id, written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", required=True, help="folder of <video_id>.<ext> movies")
    parser.add_argument("--out", required=True, help="frame folder (AVA.FRAME_DIR)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--start", type=float, default=900.0, help="first second (inclusive)")
    parser.add_argument("--end", type=float, default=1800.0, help="last second (exclusive)")
    parser.add_argument("--short-side", type=int, default=0, help="resize (0 = keep)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    if not os.path.isdir(args.videos):
        print(f"error: --videos {args.videos} is not a folder", file=sys.stderr)
        return 2
    paths = sorted(
        os.path.join(args.videos, f)
        for f in os.listdir(args.videos)
        if f.lower().endswith(VIDEO_EXTS)
    )
    if not paths:
        print(f"error: no videos ({', '.join(VIDEO_EXTS)}) in {args.videos}", file=sys.stderr)
        return 2
    kw = dict(
        fps=args.fps,
        start=args.start,
        end=args.end,
        short_side=args.short_side,
        quality=args.quality,
    )
    failures = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(extract, p, args.out, **kw): p for p in paths}
        for fut in tqdm(as_completed(futures), total=len(futures), desc="videos", unit="video"):
            try:
                fut.result()
            except Exception as e:  # report every failure, finish the others
                failures.append(f"{futures[fut]}: {e}")
    for line in failures:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
