"""Video decoders behind one interface: PyAV (default), decord (optional), frame folders.

``open_video(path, backend=...)`` returns a reader with ``num_frames`` (an estimate until the
end of the stream has been seen, then exact), ``fps`` and ``get_frames(indices) -> uint8
[T,H,W,3]``. Frame ``i`` is the ``i``-th frame of a full sequential decode. Indices past the
real end of the video repeat the last frame (padding for short videos and for containers that
over-report their frame count).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence

import numpy as np
import torch

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
BACKENDS = ("pyav", "decord", "frames")


class DecodeError(RuntimeError):
    """A video could not be opened or decoded."""


def short_side_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(H, W) with the short side scaled to ``short_side`` (0 = unchanged), aspect kept."""
    if short_side <= 0:
        return height, width
    if height <= width:
        return short_side, max(1, round(width * short_side / height))
    return max(1, round(height * short_side / width)), short_side


class VideoReader:
    """Common interface. Use as a context manager or call ``close()``."""

    num_frames: int
    fps: float

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:  # uint8 [T,H,W,3]
        raise NotImplementedError

    def close(self) -> None:
        """Release the file."""

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# Codecs whose decoders drop exactly the frames no other frame references when asked to
# (``skip_frame = "NONREF"``): skipping them cannot change any other decoded frame.
SKIP_NONREF_CODECS = ("h264", "hevc")


class PyAVReader(VideoReader):
    """PyAV: seek to the keyframe before the clip and decode only up to its last frame.

    Speed (see docs/benchmarks.md): with one decoding thread, packets of frames the clip does
    not need are decoded with ``skip_frame="NONREF"`` (H.264/HEVC drop them only when no other
    frame references them), only the requested frames are converted to RGB, and one swscale
    context is reused for all conversions. Any timestamp inconsistency falls back to a plain
    decode from the keyframe, then from the start, then to counting frames.
    """

    def __init__(self, path: str, *, threads: int = 1, short_side: int = 0) -> None:
        import av
        from av.video.reformatter import VideoReformatter

        try:
            self.container = av.open(path)
        except Exception as e:  # av raises many error types
            raise DecodeError(f"cannot open {path}: {e}") from e
        if not self.container.streams.video:
            self.container.close()
            raise DecodeError(f"{path} has no video stream")
        stream = self.container.streams.video[0]
        if threads > 1:
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = threads
        else:  # one core: no decoder threads at all (FFmpeg would start some per stream)
            stream.codec_context.thread_count = 1
        self.skip_nonref = threads <= 1 and stream.codec_context.name in SKIP_NONREF_CODECS
        self.stream = stream
        self.path = path
        self.reformatter = VideoReformatter()
        self.fresh = True  # nothing decoded yet: no seek needed to start at the beginning
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate else 30.0
        self.start_pts = stream.start_time if stream.start_time is not None else 0
        self.ticks = 1.0 / (self.fps * float(stream.time_base))  # pts units per frame
        self.num_frames = self._estimate_frames()
        self.size = short_side_size(
            stream.codec_context.height, stream.codec_context.width, short_side
        )

    def _estimate_frames(self) -> int:
        stream = self.stream
        if stream.frames and stream.frames > 0:
            return int(stream.frames)
        if stream.duration:
            seconds = float(stream.duration * stream.time_base)
        elif self.container.duration:
            seconds = self.container.duration / 1e6
        else:
            return 1
        return max(1, math.ceil(seconds * self.fps - 1e-3))

    def _index(self, pts) -> int:
        return round(((pts if pts is not None else 0) - self.start_pts) / self.ticks)

    def _frames(self, wanted: set[int], seen: dict[int, int] | None):
        """Decoded frames in presentation order. With ``seen`` (a dict, filled with the frame
        index of every packet read), packets outside ``wanted`` are decoded with
        skip_frame="NONREF"."""
        if seen is None:
            yield from self.container.decode(self.stream)
            return
        ctx = self.stream.codec_context
        try:
            for packet in self.container.demux(self.stream):
                if packet.pts is None:  # the flush packet at the end
                    ctx.skip_frame = "DEFAULT"
                else:
                    idx = self._index(packet.pts)
                    seen[idx] = seen.get(idx, 0) + 1
                    ctx.skip_frame = "DEFAULT" if idx in wanted else "NONREF"
                yield from packet.decode()
        finally:
            ctx.skip_frame = "DEFAULT"

    def _decode(self, wanted: set[int], first: int, last: int, mode: str, skip: bool) -> dict:
        """Frames (not converted) for ``wanted``, plus the last decoded frame under -2 and its
        index under -3. ``mode``: "seek" (index from pts after a keyframe seek), "pts" (from the
        start) or "count" (count frames from the start: exact for variable frame rates).
        ``skip``: skip unneeded non-reference frames (pts modes only).
        Returns ``{-1: None}`` when pts-based indexing cannot be trusted."""
        if mode == "seek":
            target = int(self.start_pts + first * self.ticks)
            self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
        elif not self.fresh:
            self.container.seek(self.start_pts, stream=self.stream, backward=True)
        self.fresh = False
        seen: dict[int, int] | None = {} if skip else None
        got: dict[int, object] = {}
        prev, prev_idx, first_idx = None, None, None
        for count, frame in enumerate(self._frames(wanted, seen)):
            idx = count if mode == "count" else self._index(frame.pts)
            if prev_idx is None:
                first_idx = idx
            if mode != "count" and (
                (prev_idx is None and mode == "seek" and idx > first)
                or (prev_idx is None and mode == "pts" and idx != 0)
                or (prev_idx is not None and not skip and idx != prev_idx + 1)
                or (prev_idx is not None and skip and idx <= prev_idx)
            ):
                return {-1: None}  # seek overshot, or gaps / duplicates in the timestamps
            if idx in wanted:
                got[idx] = frame
            prev, prev_idx = frame, idx
            if idx >= last:
                break
        else:
            if prev is not None:  # end of stream: the real frame count is now known
                if skip and prev_idx != max(seen, default=-1):
                    return {-1: None}  # the real last frame may have been skipped
                self.num_frames = prev_idx + 1
        if skip and prev is not None:
            # Every frame from the keyframe to the last one returned was read exactly once, and
            # every requested frame in that span came out (i.e. only unneeded ones were skipped).
            span = range(first_idx, prev_idx + 1)
            if any(seen.get(i) != 1 for i in span) or any(
                i not in got for i in wanted if i <= prev_idx
            ):
                return {-1: None}
        if prev is not None:
            got[-2], got[-3] = prev, prev_idx
        return got

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        if len(indices) == 0:
            raise ValueError("get_frames needs at least one index")
        wanted = {int(i) for i in indices}
        first, last = min(wanted), max(wanted)
        start = "seek" if first > 0 else "pts"
        attempts = [(start, False), ("pts", False), ("count", False)]
        if self.skip_nonref:
            attempts.insert(0, (start, True))
        try:
            for mode, skip in attempts:
                got = self._decode(wanted, first, last, mode, skip)
                if -1 not in got:
                    break
        except Exception as e:
            raise DecodeError(f"error decoding {self.path}: {e}") from e
        if -2 not in got:
            raise DecodeError(f"{self.path}: no frames could be decoded")
        height, width = self.size
        out = np.empty((len(indices), height, width, 3), np.uint8)
        done: dict[int, int] = {}  # frame key -> row of ``out`` that already holds it
        for row, i in enumerate(indices):
            key = int(i) if int(i) in got else -2  # past the end: repeat the last frame
            if key in done:
                out[row] = out[done[key]]
                continue
            rgb = self.reformatter.reformat(got[key], width, height, format="rgb24")
            out[row] = rgb.to_ndarray()
            done[key] = row
        return torch.from_numpy(out)

    def close(self) -> None:
        self.container.close()


class DecordReader(VideoReader):
    """decord (optional extra: ``pip install videossl[decord]``)."""

    def __init__(self, path: str, *, threads: int = 1, short_side: int = 0) -> None:
        try:
            import decord
        except ImportError as e:
            raise ImportError(
                "DATA.DECODER='decord' needs the decord package: pip install 'videossl[decord]' "
                "(or use DATA.DECODER pyav)."
            ) from e
        try:
            reader = decord.VideoReader(path, num_threads=threads)
            if short_side > 0:
                h, w = reader[0].shape[:2]
                h, w = short_side_size(h, w, short_side)
                reader = decord.VideoReader(path, num_threads=threads, width=w, height=h)
        except Exception as e:
            raise DecodeError(f"cannot open {path}: {e}") from e
        self.reader, self.path = reader, path
        self.num_frames = len(reader)
        self.fps = float(reader.get_avg_fps() or 30.0)

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        clamped = [min(max(int(i), 0), self.num_frames - 1) for i in indices]
        try:
            return torch.from_numpy(self.reader.get_batch(clamped).asnumpy())
        except Exception as e:
            raise DecodeError(f"error decoding {self.path}: {e}") from e


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


class FrameFolderReader(VideoReader):
    """A folder of JPEG/PNG frames, ordered by name (numbers compared as numbers)."""

    def __init__(
        self,
        path: str,
        *,
        short_side: int = 0,
        start_frame: int = 0,
        num_frames: int = -1,
        fps: float = 30.0,
    ) -> None:
        if not os.path.isdir(path):
            raise DecodeError(f"frame folder {path} does not exist")
        names = sorted(
            (n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS)), key=_natural_key
        )
        names = names[start_frame:]
        if num_frames > 0:
            names = names[:num_frames]
        if not names:
            raise DecodeError(f"frame folder {path} has no images")
        self.files = [os.path.join(path, n) for n in names]
        self.num_frames, self.fps, self.short_side, self.path = len(names), fps, short_side, path

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        from PIL import Image

        cache: dict[int, torch.Tensor] = {}
        out = []
        for i in indices:
            i = min(max(int(i), 0), self.num_frames - 1)
            if i not in cache:
                try:
                    with Image.open(self.files[i]) as img:
                        img = img.convert("RGB")
                        if self.short_side > 0:
                            h, w = short_side_size(img.height, img.width, self.short_side)
                            img = img.resize((w, h), Image.BILINEAR)
                        cache[i] = torch.from_numpy(np.asarray(img).copy())
                except OSError as e:
                    raise DecodeError(f"cannot decode {self.files[i]}: {e}") from e
            out.append(cache[i])
        return torch.stack(out)


def open_video(
    path: str,
    *,
    backend: str = "pyav",
    threads: int = 1,
    short_side: int = 0,
    start_frame: int = 0,
    num_frames: int = -1,
) -> VideoReader:
    """Open ``path`` with ``backend`` ("pyav", "decord" or "frames"; a folder always uses
    "frames"). Raises DecodeError for missing or unreadable files."""
    if backend not in BACKENDS:
        raise ValueError(f"Unknown decoder {backend!r}; use one of {', '.join(BACKENDS)}.")
    if backend == "frames" or os.path.isdir(path):
        return FrameFolderReader(
            path, short_side=short_side, start_frame=start_frame, num_frames=num_frames
        )
    if not os.path.isfile(path):
        raise DecodeError(f"{path} does not exist")
    if os.path.getsize(path) == 0:
        raise DecodeError(f"{path} is empty")
    if backend == "decord":
        return DecordReader(path, threads=threads, short_side=short_side)
    return PyAVReader(path, threads=threads, short_side=short_side)
