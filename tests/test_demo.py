import os
import threading
from collections import Counter

import av
import numpy as np

from videossl.data.demo import CLASSES, ensure_demo_dataset, render_clip, write_demo_dataset
from videossl.data.records import read_list

SMALL = dict(
    num_train_per_class=2,
    num_val_per_class=1,
    num_test_per_class=1,
    num_pool_per_class=0,
    size=(32, 32),
    num_frames=12,
)


def test_render_is_seeded_and_moves():
    a = render_clip(1, np.random.Generator(np.random.PCG64(3)), size=(32, 32), num_frames=12)
    b = render_clip(1, np.random.Generator(np.random.PCG64(3)), size=(32, 32), num_frames=12)
    assert a.shape == (12, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[-1])


def test_left_and_right_mirror_each_other():
    """Class 'right' moves the object's centre of mass to larger x over time."""
    for label, sign in ((0, -1), (1, 1)):
        clip = render_clip(
            label, np.random.Generator(np.random.PCG64(1)), size=(32, 64), num_frames=12
        ).astype(float)
        diff = np.abs(clip - np.median(clip, axis=0)).sum(-1)  # moving object vs background
        xs = np.arange(64)
        com = [(d.sum(0) * xs).sum() / d.sum() for d in (diff[0], diff[-1])]
        assert sign * (com[1] - com[0]) > 0


def test_write_demo_dataset(tmp_path):
    info = write_demo_dataset(str(tmp_path), **SMALL)
    assert info["counts"] == {"train": 12, "val": 6, "test": 6}
    recs = read_list(info["lists"]["train"])
    assert Counter(r.label for r in recs) == {k: 2 for k in range(len(CLASSES))}
    with av.open(recs[0].path) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in c.decode(video=0)) == 12
    assert (tmp_path / "labels.txt").read_text().split() == list(CLASSES)


def test_ensure_is_idempotent_and_concurrent(tmp_path):
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_demo_dataset(str(tmp_path), **SMALL)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r["counts"]["test"] for r in results] == [6, 6]
    mtime = (tmp_path / "train.csv").stat().st_mtime_ns
    ensure_demo_dataset(str(tmp_path), **SMALL)
    assert (tmp_path / "train.csv").stat().st_mtime_ns == mtime


def test_unlabeled_pool_for_pretraining(tmp_path):
    """The pool list holds the pool and the labeled train clips, no labels; pointing at
    <root>/unlabeled finds the dataset instead of writing it again."""
    info = write_demo_dataset(str(tmp_path), **{**SMALL, "num_pool_per_class": 3})
    assert info["counts"]["pool"] == (3 + 2) * len(CLASSES)
    pool = read_list(str(tmp_path / "unlabeled" / "train.csv"))
    train = {r.path for r in read_list(info["lists"]["train"])}
    assert len(pool) == 30 and train <= {r.path for r in pool}
    assert all(os.path.isfile(r.path) for r in pool)
    mtime = (tmp_path / "unlabeled" / "train.csv").stat().st_mtime_ns
    again = ensure_demo_dataset(str(tmp_path / "unlabeled"))
    assert again["counts"] == info["counts"]
    assert (tmp_path / "unlabeled" / "train.csv").stat().st_mtime_ns == mtime


def test_unlabeled_path_writes_a_pool(tmp_path):
    info = ensure_demo_dataset(str(tmp_path / "unlabeled"), **{**SMALL, "num_pool_per_class": 1})
    assert info["root"] == str(tmp_path) and info["counts"]["pool"] == 18
