"""Generated videos that reproduce the real-world decoding failure classes of issue 14.

Helpers for tests/test_decoders.py and tests/test_frame_index.py (not a test module).
Every file is written with PyAV/FFmpeg; frames carry their index (red channel) over noise.
"""

from __future__ import annotations

import re

import av
import numpy as np


def frames(n: int, height: int, width: int, seed: int = 0):
    """``n`` RGB frames: a smooth moving pattern plus noise, red channel ramps with the index."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(n):
        a = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
        a[..., 1] += ((xx + 3 * i) % 32 * 6).astype(np.uint8)
        a[..., 2] += ((yy + 2 * i) % 24 * 8).astype(np.uint8)
        a[..., 0] = (i * 7) % 256
        yield av.VideoFrame.from_ndarray(a, format="rgb24")


def encode(
    path,
    n=40,
    *,
    codec="libx264",
    fmt=None,
    size=(64, 96),
    pix_fmt="yuv420p",
    gop=10,
    options=None,
    pts=None,
    rate=25,
    global_header=True,
):
    """Encode ``n`` frames; ``pts``: explicit timestamps (gaps = dropped frames)."""
    c = av.open(str(path), "w", format=fmt)
    s = c.add_stream(codec, rate=rate, options=options or {})
    s.height, s.width = size
    s.pix_fmt = pix_fmt
    s.codec_context.gop_size = gop
    if not global_header:
        s.codec_context.flags &= ~av.codec.context.Flags.global_header
    for i, f in enumerate(frames(n, *size)):
        f.pts = pts[i] if pts is not None else i
        c.mux(s.encode(f))
    c.mux(s.encode())
    c.close()


def h264_444(path, *, old_build: bool) -> None:
    """H.264 High 4:4:4 (x264, CABAC + 8x8dct). ``old_build``: the x264 version in the first
    packet's SEI says core 150, so FFmpeg applies its pre-151 4:4:4 fix-up, and only a decoder
    that has seen that first packet decodes like a sequential decode."""
    encode(path, 60, pix_fmt="yuv444p", gop=12, options={"preset": "fast", "crf": "30"})
    if old_build:
        data = bytearray(open(path, "rb").read())
        m = re.search(rb"x264 - core (\d+)", data)
        assert m is not None
        data[m.start(1) : m.end(1)] = b"150".ljust(len(m.group(1)), b" ")[: len(m.group(1))]
        open(path, "wb").write(bytes(data))


def mpeg_ps(path) -> None:
    """MPEG-2 program stream: non-zero start time (muxer preload), a keyframe every 12 frames."""
    encode(path, 60, codec="mpeg2video", fmt="vob", gop=12, options={"bf": "2"})


def avi_dropped(path, n=40, gaps=(9, 10, 23, 31, 32)) -> None:
    """mpeg4 AVI whose index has empty chunks (dropped frames) at timestamps ``gaps``."""
    pts = [t for t in range(n + len(gaps)) if t not in gaps][:n]
    encode(path, n, codec="mpeg4", fmt="avi", gop=8, pts=pts)


def truncated_faststart(path, tmp) -> None:
    """An mp4 with the moov at the front (header intact) cut to half its size."""
    full = str(tmp) + ".full.mp4"
    c = av.open(full, "w", options={"movflags": "faststart"})
    s = c.add_stream("libx264", rate=25)
    s.height, s.width = 64, 96
    s.pix_fmt = "yuv420p"
    for i, f in enumerate(frames(40, 64, 96)):
        f.pts = i
        c.mux(s.encode(f))
    c.mux(s.encode())
    c.close()
    data = open(full, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])


def cropped(path) -> None:
    """H.264 whose SPS crops a 224x160 coded frame to 214x160 at x-offset 4: FFmpeg keeps the
    left crop (218 wide) unless asked for unaligned frames."""
    encode(path, 30, size=(160, 224), options={"x264-params": "crop-rect=4,0,6,0"})


def corrupt_packet(path, packet_no=16) -> int:
    """H.264 with garbage in the middle of packet ``packet_no`` (a non-keyframe); returns the
    pts of that packet."""
    encode(path, 40, gop=12, options={"bf": "0"})
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        packet = [p for p in c.demux(s) if p.size][packet_no]
        assert not packet.is_keyframe
        pos, size, pts = packet.pos, packet.size, packet.pts
    data = bytearray(open(path, "rb").read())
    rng = np.random.default_rng(3)
    data[pos + 12 : pos + size] = rng.bytes(size - 12)  # the slice data after its header
    open(path, "wb").write(bytes(data))
    return pts


def sequential(path, unaligned=True):
    """A plain PyAV decode of every frame (the definition of frame i) and, for each frame,
    whether FFmpeg reported an error or flagged it corrupt while it was decoded. Stops at the
    first unreadable packet, as a sequential decode does."""
    import av.logging

    if av.logging.get_level() is None:
        av.logging.set_level(av.logging.PANIC)
    out, bad = [], []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        if unaligned:
            s.codec_context.flags |= av.codec.context.Flags.unaligned
        try:
            for packet in c.demux(s):
                before = av.logging.get_last_error()[0]
                for f in packet.decode():
                    out.append(f.to_ndarray(format="rgb24"))
                    bad.append(f.is_corrupt or av.logging.get_last_error()[0] != before)
        except av.error.FFmpegError:
            pass
    return np.stack(out), np.array(bad)
