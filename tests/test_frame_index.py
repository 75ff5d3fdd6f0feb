import av
import decode_cases as dc
import numpy as np

from videossl.data.frame_index import build_index, cached_index, clear_cache, needs_priming


def _index(path):
    with av.open(str(path)) as c:
        return build_index(c, c.streams.video[0])


def test_index_counts_what_a_sequential_decode_yields(tmp_path):
    """Dropped AVI frames count for nothing; MPEG-PS start time and B-frames change nothing."""
    for name, write in (("d.avi", dc.avi_dropped), ("p.vob", dc.mpeg_ps)):
        path = tmp_path / name
        write(path)
        index = _index(path)
        with av.open(str(path)) as c:
            pts = [f.pts for f in c.decode(video=0)]
        assert index.exact and index.num_frames == len(pts)
        assert index.pts.tolist() == pts  # frame k of the decode has the k-th index pts
        assert [index.rank(p) for p in pts] == list(range(len(pts)))
        assert index.keys[0] == 0 and index.keyframe_before(len(pts) - 1) == index.keys[-1]
    assert _index(tmp_path / "p.vob").pts[0] > 0  # non-zero start time


def test_priming_rules():
    assert needs_priming("h264", b"..x264 - core 150 r2..", b"") == (True, 150)
    assert needs_priming("h264", b"..x264 - core 164 r3..", b"") == (False, 164)
    assert needs_priming("mpeg4", b"\x00\x00\x01\xb2XviD0050", b"")[0]
    assert not needs_priming("mpeg4", b"\x00\x00\x01\xb2XviD0050", b"XviD0050")[0]
    assert not needs_priming("vp9", b"x264 - core 100", b"")[0]


def test_cache_is_keyed_by_size_and_mtime(tmp_path):
    clear_cache()
    path = tmp_path / "a.mp4"
    dc.encode(path, 12)
    calls = []

    def make():
        calls.append(1)
        return _index(path)

    first = cached_index(str(path), make)
    assert cached_index(str(path), make) is first and len(calls) == 1
    dc.encode(path, 20)  # rewritten: a new index
    assert cached_index(str(path), make).num_frames == 20 and len(calls) == 2
    assert np.all(np.diff(first.pts) > 0)
