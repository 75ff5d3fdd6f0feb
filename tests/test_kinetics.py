import logging

import numpy as np
import pytest
import torch

from videossl.config import get_defaults
from videossl.data.base import read_bad_report
from videossl.data.build import build_dataset, collate
from videossl.data.demo import write_video


def tiny_cfg(root, out):
    cfg = get_defaults()
    cfg.OUTPUT_DIR = str(out)
    cfg.DATA.PATH_TO_DATA_DIR = str(root)
    cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE = 4, 2
    cfg.DATA.TRAIN_CROP_SIZE = cfg.DATA.TEST_CROP_SIZE = 16
    cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS = 2, 3
    return cfg


def known_video(n=30):
    """Thirds left/centre/right in the red channel, frame index in green."""
    frames = np.zeros((n, 32, 48, 3), np.uint8)
    frames[:, :, :16, 0], frames[:, :, 16:32, 0], frames[:, :, 32:, 0] = 40, 128, 220
    frames[..., 1] = (np.arange(n) * 8).reshape(n, 1, 1)
    return frames


def write_set(root, good, bad=()):
    lines = []
    for i in range(good):
        write_video(str(root / f"v{i}.mp4"), known_video())
        lines.append(f"v{i}.mp4 {i % 3}")
    for name in bad:
        lines.append(f"{name} 0")
    for split in ("train", "test"):
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")


def test_multi_view_positions(tmp_path):
    write_set(tmp_path, 2)
    cfg = tiny_cfg(tmp_path, tmp_path / "out")
    ds = build_dataset(cfg, "test")
    assert len(ds) == 2 * 2 * 3 and ds.num_videos == 2 and ds.labels == [0, 1]
    items = [ds[i] for i in range(6)]
    assert all(it["video"].dtype == torch.uint8 for it in items)  # pixels: 0..255
    assert [int(it["view"]) for it in items] == [0, 1, 2, 3, 4, 5]
    assert all(int(it["index"]) == 0 and bool(it["valid"]) for it in items)
    red = [float(it["video"][0].float().mean()) for it in items]
    green_first = [float(it["video"][1, 0].float().mean()) for it in items]
    for t in range(2):
        r = red[3 * t : 3 * t + 3]
        assert r[0] < r[1] < r[2]  # left, centre, right crops along the long side
    assert green_first[3] > green_first[0] + 40  # second temporal view starts later


def test_broken_files_train_epoch_and_test_pass(tmp_path, caplog):
    bad = ["zero.mp4", "trunc.mp4", "random.mp4", "missing.mp4"]
    write_set(tmp_path, 36, bad)
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "trunc.mp4").write_bytes((tmp_path / "v0.mp4").read_bytes()[:500])
    (tmp_path / "random.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
    cfg = tiny_cfg(tmp_path, tmp_path / "out")
    cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS = 1, 1
    train = build_dataset(cfg, "train")
    batches = [collate([train[(i, i)] for i in range(s, s + 8)]) for s in range(0, 40, 8)]
    assert all(bool(b["valid"].all()) for b in batches)
    assert sum(len(b["label"]) for b in batches) == 40
    with caplog.at_level(logging.INFO, logger="videossl.data.base"):
        summary = train.failure_summary(epoch=0)
    assert summary["failures"] >= 4 and summary["files"] == 4
    assert {p.rsplit("/", 1)[1] for p in summary["paths"]} == set(bad)
    lines = [r.getMessage() for r in caplog.records if "epoch 0 train data" in r.getMessage()]
    assert len(lines) == 1 and "(4 files)" in lines[0]
    assert train.failure_summary(epoch=1)["failures"] == 0  # only new failures count
    test = build_dataset(cfg, "test")
    valid = [bool(test[i]["valid"]) for i in range(len(test))]
    assert valid == [True] * 36 + [False] * 4
    assert test.failure_summary() == {"failures": 4, "files": 4, "paths": summary["paths"]}
    rows = read_bad_report(str(tmp_path / "out" / "bad_videos.tsv"))
    reported = {path.rsplit("/", 1)[1] for _, path, _ in rows}
    assert reported == set(bad)
    assert {split for split, _, _ in rows} == {"train", "test"}


def test_all_bad_fails_clearly(tmp_path):
    (tmp_path / "train.csv").write_text("a.mp4 0\nb.mp4 1\n")
    with pytest.raises(FileNotFoundError, match="None of the 2"):
        build_dataset(tiny_cfg(tmp_path, tmp_path / "out"), "train")


def test_repeated_augmentation_and_seeding(tmp_path):
    write_set(tmp_path, 3)
    cfg = tiny_cfg(tmp_path, tmp_path / "out")
    cfg.DATA.NUM_REPEATED_SAMPLES = 3
    ds = build_dataset(cfg, "train")
    a, b, c = ds[(1, 7)], ds[(1, 7)], ds[(1, 8)]
    assert a["video"].shape == (3, 3, 4, 16, 16)
    assert torch.equal(a["video"], b["video"])
    assert not torch.equal(a["video"], c["video"])
    assert not torch.equal(a["video"][0], a["video"][1])  # K independent augmentations
    batch = collate([a, c])
    assert batch["video"].shape == (6, 3, 4, 16, 16)
    assert batch["index"].tolist() == [1] * 6


@pytest.mark.slow
def test_same_clips_across_num_workers(tmp_path):
    from videossl.data.loader import make_loader

    write_set(tmp_path, 6)
    cfg = tiny_cfg(tmp_path, tmp_path / "out")
    ds = build_dataset(cfg, "train")
    runs = []
    for workers in (0, 2):
        loader = make_loader(
            ds,
            batch_size=3,
            shuffle=True,
            drop_last=True,
            num_workers=workers,
            seed=5,
            collate_fn=collate,
        )
        runs.append([b["video"] for b in loader])
    assert len(runs[0]) == 2
    for x, y in zip(*runs):
        assert torch.equal(x, y)


def test_failure_summary_counts_failures_in_loader_workers(tmp_path):
    write_set(tmp_path, 3, ["missing.mp4"])
    cfg = tiny_cfg(tmp_path, tmp_path / "out")
    train = build_dataset(cfg, "train")
    loader = torch.utils.data.DataLoader(train, batch_size=2, num_workers=1, collate_fn=collate)
    assert sum(len(b["label"]) for b in loader) == 4
    assert train.failures == 0  # the worker's counter never reaches this process
    summary = train.failure_summary(epoch=0, log=False)
    assert summary["files"] == 1 and summary["failures"] >= 1
    assert summary["paths"][0].endswith("missing.mp4")
