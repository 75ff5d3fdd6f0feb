#!/usr/bin/env python
"""Pre-resize a video collection to a short side of 320 (H.264 mp4, fps kept, audio dropped).

    python data_lists/resize_videos.py SRC DST [--short-side 320] [--crf 23] [--workers 8]

Every video under SRC (any depth) becomes ``DST/<same relative path>.mp4``. Videos whose short
side is already at most ``--short-side`` are re-encoded at their size (no upscaling). Done files
are skipped, so an interrupted run can be restarted (outputs are written to a temporary name
and renamed when complete). Failures are logged, counted and listed in
``DST/resize_failures.txt``; the exit status is 1 when any file failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from fractions import Fraction
from multiprocessing import Pool

logger = logging.getLogger("resize_videos")

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".flv")


def target_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(H, W) with the short side ``short_side`` (never upscaled), aspect kept, both even."""
    scale = min(1.0, short_side / min(height, width))
    return max(2, 2 * round(height * scale / 2)), max(2, 2 * round(width * scale / 2))


def resize_video(
    src: str, dst: str, *, short_side: int = 320, crf: int = 23, preset: str = "veryfast"
) -> tuple[int, int]:
    """Re-encode ``src`` to ``dst`` (libx264, yuv420p); returns the output (H, W)."""
    import av

    tmp = f"{dst}.part{os.getpid()}.mp4"
    try:
        with av.open(src) as inp:
            if not inp.streams.video:
                raise ValueError("no video stream")
            stream = inp.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate or 30
            height, width = target_size(stream.height, stream.width, short_side)
            os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
            with av.open(tmp, "w") as out:
                ostream = out.add_stream("libx264", rate=rate)
                ostream.height, ostream.width, ostream.pix_fmt = height, width, "yuv420p"
                ostream.options = {"crf": str(crf), "preset": preset, "threads": "1"}
                count = 0
                frame_time_base = Fraction(1) / Fraction(rate)
                for frame in inp.decode(stream):
                    small = frame.reformat(width, height, format="yuv420p", interpolation="AREA")
                    small.pts, small.time_base = count, frame_time_base  # constant rate
                    out.mux(ostream.encode(small))
                    count += 1
                out.mux(ostream.encode())
        if count == 0:
            raise ValueError("no frames decoded")
        os.replace(tmp, dst)
        return height, width
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def find_videos(src: str) -> list[str]:
    """Relative paths of the video files under ``src``, sorted."""
    out = []
    for folder, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(VIDEO_EXTENSIONS):
                out.append(os.path.relpath(os.path.join(folder, name), src))
    return out


def output_path(dst: str, rel: str) -> str:
    return os.path.join(dst, os.path.splitext(rel)[0] + ".mp4")


def _job(job: tuple) -> tuple[str, str]:
    src, dst, kwargs = job
    try:
        resize_video(src, dst, **kwargs)
        return src, ""
    except Exception as e:  # every failure is reported, none stops the run
        return src, f"{type(e).__name__}: {e}".replace("\n", " ")


def resize_collection(
    src: str,
    dst: str,
    *,
    short_side: int = 320,
    crf: int = 23,
    preset: str = "veryfast",
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Resize every video under ``src`` into ``dst``; returns counts and the failures."""
    from tqdm import tqdm

    rels = find_videos(src)
    kwargs = {"short_side": short_side, "crf": crf, "preset": preset}
    jobs, skipped = [], 0
    for rel in rels:
        out = output_path(dst, rel)
        if os.path.isfile(out) and os.path.getsize(out) > 0:
            skipped += 1
        else:
            jobs.append((os.path.join(src, rel), out, kwargs))
    failures: list[tuple[str, str]] = []
    bar = tqdm(total=len(jobs), disable=not progress, unit="video")
    pool = Pool(workers) if workers > 1 and len(jobs) > 1 else None
    results = pool.imap_unordered(_job, jobs) if pool else map(_job, jobs)
    try:
        for path, error in results:
            if error:
                failures.append((path, error))
                logger.warning("failed: %s (%s)", path, error)
            bar.update()
            bar.set_postfix(failed=len(failures))
    finally:
        bar.close()
        if pool:
            pool.close()
            pool.join()
    if failures:
        os.makedirs(dst, exist_ok=True)
        with open(os.path.join(dst, "resize_failures.txt"), "w") as f:
            f.writelines(f"{path}\t{error}\n" for path, error in failures)
    summary = {
        "found": len(rels),
        "done": len(jobs) - len(failures),
        "skipped": skipped,
        "failed": len(failures),
        "failures": failures,
    }
    logger.info(
        "%d videos: %d resized, %d already done, %d failed%s",
        len(rels),
        summary["done"],
        skipped,
        len(failures),
        f" (listed in {os.path.join(dst, 'resize_failures.txt')})" if failures else "",
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("src", help="folder with the original videos")
    parser.add_argument("dst", help="output folder (same tree, .mp4 files)")
    parser.add_argument("--short-side", type=int, default=320)
    parser.add_argument("--crf", type=int, default=23, help="x264 quality (lower = better)")
    parser.add_argument("--preset", default="veryfast", help="x264 preset")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not os.path.isdir(args.src):
        parser.error(f"{args.src} is not a folder")
    summary = resize_collection(
        args.src,
        args.dst,
        short_side=args.short_side,
        crf=args.crf,
        preset=args.preset,
        workers=args.workers,
        progress=not args.no_progress,
    )
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
