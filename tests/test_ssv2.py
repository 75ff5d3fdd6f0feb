import json

import numpy as np
import pytest

from videossl.config import get_defaults
from videossl.data.build import build_dataset
from videossl.data.demo import write_video
from videossl.data.records import ListFormatError
from videossl.data.ssv2 import clean_template, ssv2_records


def make_ssv2(root):
    labels = {"Pushing something from left to right": "0", "Moving something up": "1"}
    (root / "something-something-v2-labels.json").write_text(json.dumps(labels))
    train = [{"id": "11", "template": "Pushing [something] from left to right"}]
    val = [{"id": "12", "template": "Moving [something] up", "label": "x"}]
    (root / "something-something-v2-train.json").write_text(json.dumps(train))
    (root / "something-something-v2-validation.json").write_text(json.dumps(val))
    frames = np.zeros((32, 16, 16, 3), np.uint8)
    frames[:, :, :8] = 250  # bright left half: a flip would put it on the right
    for vid in ("11", "12"):
        write_video(str(root / f"{vid}.webm".replace(".webm", ".mp4")), frames)
        (root / f"{vid}.mp4").rename(root / f"{vid}.webm")


def cfg_for(root):
    cfg = get_defaults()
    cfg.DATA.DATASET = "ssv2"
    cfg.DATA.PATH_TO_DATA_DIR = str(root)
    cfg.DATA.NUM_FRAMES = cfg.DATA.NUM_SEGMENTS = 4
    cfg.DATA.TRAIN_CROP_SIZE = cfg.DATA.TEST_CROP_SIZE = 16
    cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE = [1.0, 1.0]
    cfg.DATA.TRAIN_JITTER_ASPECT_RELATIVE = [1.0, 1.0]
    cfg.DATA.RANDOM_FLIP = True  # SSv2 must ignore it
    cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS = 2, 3
    cfg.OUTPUT_DIR = str(root / "out")
    return cfg


def test_records_from_json(tmp_path):
    make_ssv2(tmp_path)
    assert clean_template("Putting [something] on [sth]") == "Putting something on sth"
    recs = ssv2_records(str(tmp_path), "train", prefix="", frames=False)
    assert recs[0].label == 0 and recs[0].path.endswith("11.webm")
    recs = ssv2_records(str(tmp_path), "test", prefix="/videos", frames=True)
    assert recs[0].path == "/videos/12" and recs[0].label == 1


def test_unknown_template_is_an_error(tmp_path):
    make_ssv2(tmp_path)
    bad = [{"id": "13", "template": "Dancing"}]
    (tmp_path / "something-something-v2-train.json").write_text(json.dumps(bad))
    with pytest.raises(ListFormatError, match="entry 0"):
        ssv2_records(str(tmp_path), "train", prefix="", frames=False)


def test_flip_off_and_test_views(tmp_path):
    make_ssv2(tmp_path)
    cfg = cfg_for(tmp_path)
    train = build_dataset(cfg, "train")
    for seed in range(10):
        video = train[(0, seed)]["video"]
        assert video.shape == (3, 4, 16, 16)
        video = video.float()
        assert float(video[:, :, :, :4].mean()) > float(video[:, :, :, -4:].mean())
    test = build_dataset(cfg, "test")
    assert len(test) == 6 and test.labels == [1]
    assert [int(test[i]["view"]) for i in range(6)] == list(range(6))
    assert all(bool(test[i]["valid"]) for i in range(6))


def test_segments_must_match_frames(tmp_path):
    make_ssv2(tmp_path)
    cfg = cfg_for(tmp_path)
    cfg.DATA.NUM_SEGMENTS = 8
    with pytest.raises(ValueError, match="NUM_SEGMENTS"):
        build_dataset(cfg, "train")
