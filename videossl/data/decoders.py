"""Video decoders behind one interface: PyAV (default), decord (optional), frame folders.

``open_video(path, backend=...)`` returns a reader with ``num_frames``, ``fps`` and
``get_frames(indices) -> uint8 [T,H,W,3]``. Frame ``i`` is the ``i``-th frame of a full
sequential decode, exactly (the codec's visible picture, never rescaled unless
``short_side`` asks), or the reader raises ``DecodeError(path, reason)``: video readers check
every frame against a packet index of the file (``frame_index``), see docs/decoding.md.
``num_frames`` comes from that index (one frame per non-empty packet); should a decode reach
the end earlier, it drops to the real count. Indices past the end repeat the last frame.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np
import torch

from .pyav_reader import PyAVReader, load_index
from .reader_base import DecodeError, VideoReader, short_side_size

__all__ = ["BACKENDS", "DecodeError", "PyAVReader", "VideoReader", "open_video", "short_side_size"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
BACKENDS = ("pyav", "decord", "frames")


class DecordReader(VideoReader):
    """decord (optional extra: ``pip install videossl[decord]``), verified against the packet
    index: a file where decord's frame count, timestamps or picture size differ from a
    sequential decode, or whose first packet must be decoded before any seek (decord cannot),
    is refused with a ``DecodeError`` that names the difference (DATA.DECODER pyav reads it)."""

    def __init__(self, path: str, *, threads: int = 1, short_side: int = 0) -> None:
        try:
            import decord
        except ImportError as e:
            raise ImportError(
                "DATA.DECODER='decord' needs the decord package: pip install 'videossl[decord]' "
                "(or use DATA.DECODER pyav)."
            ) from e
        index = load_index(path)
        try:
            reader = decord.VideoReader(path, num_threads=threads)
        except Exception as e:  # noqa: BLE001
            raise DecodeError(path, f"cannot open with decord: {e}") from e
        if index.decord_verdict is None:
            index.decord_verdict = decord_mismatch(path, reader, index)
        if index.decord_verdict:
            raise DecodeError(
                path,
                f"decord would not decode it exactly: {index.decord_verdict}"
                "; use DATA.DECODER pyav",
            )
        if short_side > 0:
            h, w = short_side_size(*index.size, short_side)
            reader = decord.VideoReader(path, num_threads=threads, width=w, height=h)
        self.reader, self.path = reader, path
        self.num_frames = len(reader)
        self.fps = float(reader.get_avg_fps() or 30.0)

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        clamped = [min(max(int(i), 0), self.num_frames - 1) for i in indices]
        try:
            return torch.from_numpy(self.reader.get_batch(clamped).asnumpy())
        except Exception as e:  # noqa: BLE001
            raise DecodeError(self.path, f"error decoding with decord: {e}") from e


def decord_mismatch(path: str, reader, index) -> str:
    """Why decord's frames would differ from a sequential decode ("" when they match)."""
    if not index.exact:
        return "packets without timestamps (decord numbers frames by timestamp)"
    if index.prime:
        return "the first packet holds encoder data a seeking decoder must see first"
    if len(reader) != index.num_frames:
        return f"it counts {len(reader)} frames, a sequential decode {index.num_frames}"
    try:
        stamps = reader.get_frame_timestamp(range(len(reader)))[:, 0]
        shape = reader[0].shape
    except Exception as e:  # noqa: BLE001
        return f"decord error: {e}"
    seconds = (index.pts - index.pts[0]) * index.time_base
    step = 0.5 / max(float(reader.get_avg_fps() or 30.0), 1.0)
    if np.abs((stamps - stamps[0]) - seconds).max() > step:
        return "its frame timestamps do not follow the packet order (dropped or reordered frames)"
    if tuple(shape[:2]) != index.size:
        return (
            f"its picture is {shape[1]}x{shape[0]}, the visible picture {index.size[1]}x"
            f"{index.size[0]}"
        )
    with PyAVReader(path) as exact:  # once per file: frame 0 must be the same picture
        if not torch.equal(exact.get_frames([0])[0], torch.from_numpy(reader[0].asnumpy())):
            return "its first frame differs from a sequential decode (cropping or colour)"
    return ""


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
            raise DecodeError(path, "frame folder does not exist")
        names = sorted(
            (n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS)), key=_natural_key
        )
        names = names[start_frame:]
        if num_frames > 0:
            names = names[:num_frames]
        if not names:
            raise DecodeError(path, "frame folder has no images")
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
                    raise DecodeError(self.files[i], f"cannot decode: {e}") from e
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
        raise DecodeError(path, "cannot open: the file does not exist")
    if os.path.getsize(path) == 0:
        raise DecodeError(path, "cannot open: the file is empty")
    if backend == "decord":
        return DecordReader(path, threads=threads, short_side=short_side)
    return PyAVReader(path, threads=threads, short_side=short_side)
