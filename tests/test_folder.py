import numpy as np
import pytest

from videossl.config import get_defaults
from videossl.data.build import build_dataset
from videossl.data.demo import write_video
from videossl.data.folder import folder_records, list_classes


def make_tree(root):
    frames = np.full((8, 16, 16, 3), 90, np.uint8)
    for split, names in (("train", ("cat", "dog")), ("val", ("dog",))):
        for name in names:
            (root / split / name).mkdir(parents=True)
            write_video(str(root / split / name / "a.mp4"), frames)
    (root / "train" / "cat" / "notes.txt").write_text("ignored")


def test_folder_records(tmp_path):
    make_tree(tmp_path)
    classes = list_classes(str(tmp_path / "train"))
    assert classes == ["cat", "dog"]
    recs = folder_records(str(tmp_path / "val"), classes)
    assert [r.label for r in recs] == [1]  # ids from the train split
    assert len(folder_records(str(tmp_path / "train"), classes)) == 2
    with pytest.raises(FileNotFoundError):
        folder_records(str(tmp_path / "test"), classes)


def test_folder_dataset(tmp_path):
    make_tree(tmp_path)
    cfg = get_defaults()
    cfg.DATA.DATASET, cfg.DATA.PATH_TO_DATA_DIR = "folder", str(tmp_path)
    cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE, cfg.DATA.TEST_CROP_SIZE = 4, 16, 16
    ds = build_dataset(cfg, "val")
    assert ds.classes == ["cat", "dog"] and len(ds) == 1
    item = ds[0]
    assert item["video"].shape == (3, 4, 16, 16) and int(item["label"]) == 1
