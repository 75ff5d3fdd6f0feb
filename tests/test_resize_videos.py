import importlib.util
import sys
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "resize_videos", ROOT / "data_lists" / "resize_videos.py"
)
resize_videos = importlib.util.module_from_spec(_spec)
sys.modules["resize_videos"] = resize_videos  # so worker processes can unpickle its jobs
_spec.loader.exec_module(resize_videos)


def write(path, *, size=(48, 64), n=12, fps=25, audio=False):
    """Frames with a left/right brightness split, so a resize keeps something checkable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.height, s.width = size
        s.pix_fmt = "yuv420p"
        a = c.add_stream("aac", rate=8000) if audio else None
        for i in range(n):
            frame = np.zeros((*size, 3), np.uint8)
            frame[:, size[1] // 2 :] = 200
            f = av.VideoFrame.from_ndarray(frame, format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode())
        if a is not None:
            fr = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            fr.sample_rate, fr.pts = 8000, 0
            c.mux(a.encode(fr))
            c.mux(a.encode())


def probe(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(v)]
        return (v.height, v.width), float(v.average_rate), len(frames), len(c.streams.audio), frames


def test_target_size():
    assert resize_videos.target_size(240, 320, 320) == (240, 320)  # never upscaled
    assert resize_videos.target_size(480, 640, 320) == (320, 426)  # even sides
    assert resize_videos.target_size(1080, 607, 320) == (570, 320)


def test_resize_collection(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "a" / "one.mp4", audio=True)
    write(src / "b" / "two.mkv", size=(64, 40), fps=30, n=7)
    (src / "b" / "broken.mp4").write_bytes(b"not a video at all")
    summary = resize_videos.resize_collection(
        str(src), str(dst), short_side=32, workers=2, progress=False
    )
    assert (summary["found"], summary["done"], summary["skipped"], summary["failed"]) == (
        3,
        2,
        0,
        1,
    )
    size, fps, count, audio, frames = probe(dst / "a" / "one.mp4")
    assert size == (32, 42) and fps == 25 and count == 12 and audio == 0
    assert frames[5][:, :15].mean() < 30 and frames[5][:, -15:].mean() > 170
    size, fps, count, audio, _ = probe(dst / "b" / "two.mp4")  # mkv -> mp4
    assert size == (52, 32) and fps == 30 and count == 7
    failures = (dst / "resize_failures.txt").read_text()
    assert "broken.mp4" in failures and "one.mp4" not in failures
    assert not list(dst.rglob("*.part*"))
    again = resize_videos.resize_collection(str(src), str(dst), short_side=32, progress=False)
    assert (again["skipped"], again["done"], again["failed"]) == (2, 0, 1)


def test_main_exit_status(tmp_path):
    write(tmp_path / "src" / "ok.mp4", n=3)
    args = [
        str(tmp_path / "src"),
        str(tmp_path / "dst"),
        "--short-side",
        "16",
        "--workers",
        "1",
        "--no-progress",
    ]
    assert resize_videos.main(args) == 0
    assert probe(tmp_path / "dst" / "ok.mp4")[0] == (16, 22)
    (tmp_path / "src" / "bad.webm").write_bytes(b"")
    assert resize_videos.main(args) == 1
