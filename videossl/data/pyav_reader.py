"""PyAV reader: seek + decode, every frame verified against the packet index.

Fast path: seek to the keyframe before the clip (after decoding the first packet once when the
stream needs it, see ``frame_index.needs_priming``), check that the seek landed on a keyframe of
the index, and decode up to the clip's last frame. Every decoded frame must be, by its pts, the
next frame of the index; a corrupt frame (``frame.is_corrupt``) or an error FFmpeg reports while
decoding the clip rejects the attempt. A rejected attempt falls back to the sequential path: a
fresh decode from the start that counts frames (the definition of frame ``i``); a corrupt frame
there raises ``DecodeError``. Unverified frames are never returned.

Speed (see docs/benchmarks.md): with one decoding thread, once a plain decode has matched the
index, packets of frames the clip does not need are decoded with ``skip_frame="NONREF"``
(H.264/HEVC drop them only when no other frame references them), only the requested frames are
converted to RGB, and one swscale context is reused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from .frame_index import FrameIndex, build_index, cached_index
from .reader_base import DecodeError, VideoReader, open_container, short_side_size

logger = logging.getLogger(__name__)

# Codecs whose decoders drop exactly the frames no other frame references when asked to
# (``skip_frame = "NONREF"``): skipping them cannot change any other decoded frame.
SKIP_NONREF_CODECS = ("h264", "hevc")
MISMATCH, CORRUPT = "mismatch", "corrupt"


def error_count() -> int:
    """Errors FFmpeg has logged in this process so far (PyAV counts them once its log callback
    is installed; level PANIC keeps it silent)."""
    import av.logging

    if av.logging.get_level() is None:
        av.logging.set_level(av.logging.PANIC)
    return av.logging.get_last_error()[0]


def load_index(path: str) -> FrameIndex:
    """The packet index of ``path`` (cached; one demux, no decoding)."""

    def make() -> FrameIndex:
        container = open_container(path)
        try:
            return build_index(container, container.streams.video[0])
        finally:
            container.close()

    index = cached_index(path, make)
    if index.num_frames == 0:
        raise DecodeError(path, "no video frames could be read (truncated or damaged file?)")
    return index


class PyAVReader(VideoReader):
    """See the module docstring. ``get_frames(indices) -> uint8 [T,H,W,3]``."""

    def __init__(self, path: str, *, threads: int = 1, short_side: int = 0) -> None:
        from av.video.reformatter import VideoReformatter

        self.path, self.threads, self.short_side = path, threads, short_side
        self.index = load_index(path)
        self.container = open_container(path)
        self._setup_stream()
        self.reformatter = VideoReformatter()
        self.skip_nonref = threads <= 1 and self.stream.codec_context.name in SKIP_NONREF_CODECS
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        self.fps = float(rate) if rate else 30.0
        self.num_frames = self.index.num_frames
        self.primed = False

    def _setup_stream(self) -> None:
        import av

        stream = self.container.streams.video[0]
        ctx = stream.codec_context
        if self.threads > 1:
            stream.thread_type = "AUTO"
            ctx.thread_count = self.threads
        else:  # one core: no decoder threads at all (FFmpeg would start some per stream)
            ctx.thread_count = 1
        # The visible picture exactly: FFmpeg otherwise keeps a left crop that would misalign
        # its buffers (a 214-wide picture at x-offset 4 comes out 218 wide).
        ctx.flags |= av.codec.context.Flags.unaligned
        self.stream, self.fresh = stream, True

    def _reopen(self) -> None:
        self.container.close()
        self.container = open_container(self.path)
        self._setup_stream()
        self.primed = False

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        if len(indices) == 0:
            raise ValueError("get_frames needs at least one index")
        last_frame = self.num_frames - 1
        rows = [min(max(int(i), 0), last_frame) for i in indices]
        wanted = set(rows)
        try:
            got = self._fast(wanted) if self.index.exact and self.index.seek_ok else MISMATCH
            if got == MISMATCH and self.index.exact and self.index.seek_ok:
                self.index.seek_ok = False  # this file's index cannot guide seeks: decode it all
                logger.debug(
                    "%s: seeking disabled (decoded frames did not match the index)", self.path
                )
            if not isinstance(got, dict):
                got = self._sequential(wanted)
        except DecodeError:
            raise
        except Exception as e:  # noqa: BLE001  av raises many error types
            raise DecodeError(self.path, f"error while decoding: {type(e).__name__}: {e}") from e
        return self._convert(got, [min(r, self.num_frames - 1) for r in rows])

    def _landing(self, key: int) -> None:
        """Seek so that decoding starts at the keyframe of rank ``key``."""
        if self.fresh and key == self.index.keyframe_before(0) == 0:
            return  # at the start already
        if self.index.prime and not self.primed:
            if not self.fresh:
                self._reopen()
            for packet in self.container.demux(self.stream):
                if packet.size:  # the first packet carries what later keyframes lack
                    packet.decode()
                    break
            self.primed = True
        target = int(self.index.pts[key])
        self.container.seek(target, stream=self.stream, backward=True, any_frame=False)

    def _fast(self, wanted: set[int]) -> dict | str:
        """Frames by rank, or MISMATCH / CORRUPT when the decode does not verify."""
        index, first, last = self.index, min(wanted), max(wanted)
        key = index.keyframe_before(first)
        if key < 0:
            return MISMATCH
        self._landing(key)
        self.fresh = False
        skip = self.skip_nonref and index.checked
        ctx = self.stream.codec_context
        errors = error_count()
        got: dict = {}
        start, expect = None, None
        try:
            for packet in self.container.demux(self.stream):
                if packet.size == 0 and packet.pts is not None:
                    continue  # a dropped frame: no picture
                if start is None:  # verify the landing: a keyframe of the index, not after key
                    start = index.rank(packet.pts)
                    if not packet.is_keyframe or start is None or start > key:
                        return MISMATCH
                    if not index.is_key(start):
                        return MISMATCH
                    expect = start
                if skip:
                    needed = packet.pts is None or index.rank(packet.pts) in wanted
                    ctx.skip_frame = "DEFAULT" if needed else "NONREF"
                for frame in packet.decode():
                    rank = index.rank(frame.pts)
                    if rank is None:
                        return MISMATCH
                    if rank < start:
                        continue  # a leading frame of an open GOP, before the keyframe
                    if rank < expect or (not skip and rank != expect):
                        return MISMATCH  # a frame missing, repeated or out of order
                    if frame.is_corrupt:
                        return CORRUPT
                    expect = rank + 1
                    if rank in wanted:
                        got[rank] = frame
                if expect is not None and expect > last:
                    break
        finally:
            ctx.skip_frame = "DEFAULT"
        if expect is None or expect <= last or len(got) != len(wanted):
            return MISMATCH  # the stream ended early, or a wanted frame never came out
        if error_count() != errors:
            return CORRUPT
        if not skip:
            index.checked = True
        return got

    def _sequential(self, wanted: set[int]) -> dict:
        """Decode from the start, counting frames. Corruption is an error."""
        if not self.fresh:
            self._reopen()
        self.fresh = False
        last = max(wanted)
        errors = error_count()
        got: dict = {}
        count, frame = -1, None
        for packet in self.container.demux(self.stream):
            if packet.size == 0 and packet.pts is not None:
                continue
            for frame in packet.decode():
                count += 1
                if frame.is_corrupt or error_count() != errors:
                    raise DecodeError(
                        self.path,
                        f"corrupt data in frame {count} (FFmpeg reported"
                        " decoding errors); the file is damaged",
                    )
                if count in wanted:
                    got[count] = frame
            if count >= last:
                break
        if error_count() != errors:
            raise DecodeError(self.path, "FFmpeg reported decoding errors; the file is damaged")
        if count < 0:
            raise DecodeError(self.path, "no frames could be decoded")
        if count < last:  # fewer frames than packets: the real count is now known
            self.num_frames = count + 1
            got[count] = frame
        return got

    def _convert(self, got: dict, rows: list[int]) -> torch.Tensor:
        first = got[rows[0]]
        height, width = short_side_size(first.height, first.width, self.short_side)
        out = np.empty((len(rows), height, width, 3), np.uint8)
        done: dict[int, int] = {}  # frame rank -> row of ``out`` that already holds it
        for row, rank in enumerate(rows):
            if rank in done:
                out[row] = out[done[rank]]
                continue
            rgb = self.reformatter.reformat(got[rank], width, height, format="rgb24")
            out[row] = rgb.to_ndarray()
            done[rank] = row
        return torch.from_numpy(out)

    def close(self) -> None:
        self.container.close()
