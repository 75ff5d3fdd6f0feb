import importlib.util
import os
from pathlib import Path

import pytest

from videossl.data.records import read_list

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_lists", ROOT / "data_lists" / "make_lists.py")
make_lists = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_lists)


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_folder_tree_with_val_split(tmp_path):
    data = tmp_path / "videos"
    for cls, n in (("b_cls", 5), ("a_cls", 4)):
        for i in range(n):
            touch(data / cls / f"{cls}_{i}.mp4")
    touch(data / "a_cls" / "notes.txt")  # not a video
    out = tmp_path / "lists"
    args = ["folder", str(data), "--out", str(out), "--val-ratio", "0.25", "--seed", "3"]
    assert make_lists.main(args) == 0
    assert (out / "labels.txt").read_text().split() == ["a_cls", "b_cls"]
    train = read_list(str(out / "train.csv"))
    val = read_list(str(out / "val.csv"))
    assert len(train) + len(val) == 9 and len(val) == 2  # round(4/4), round(5/4): one each
    assert {r.label for r in val} == {0, 1}
    for r in train + val:  # relative paths resolve against the list folder
        assert os.path.isfile(r.path)
        assert r.label == (0 if "a_cls" in r.path else 1)
    assert "../videos/" in (out / "train.csv").read_text()
    first = (out / "val.csv").read_text()
    make_lists.main(["folder", str(data), "--out", str(out), "--val-ratio", "0.25", "--seed", "3"])
    assert (out / "val.csv").read_text() == first  # same seed, same split
    make_lists.main(["folder", str(data), "--out", str(out), "--val-ratio", "0.5", "--seed", "4"])
    assert len(read_list(str(out / "val.csv"))) == 5


def test_folder_tree_with_split_folders_absolute_and_separator(tmp_path):
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            touch(tmp_path / "d" / split / cls / f"{split}_{cls}.webm")
    (tmp_path / "d" / "train" / "dog" / "frames_0").mkdir()  # a frame folder counts too
    out = tmp_path / "lists"
    make_lists.main(
        ["folder", str(tmp_path / "d"), "--out", str(out), "--absolute", "--separator", ","]
    )
    lines = (out / "train.csv").read_text().splitlines()
    assert len(lines) == 3 and all(os.path.isabs(line.split(",")[0]) for line in lines)
    records = read_list(str(out / "val.csv"), separator=",")
    assert sorted((os.path.basename(r.path), r.label) for r in records) == [
        ("val_cat.webm", 0),
        ("val_dog.webm", 1),
    ]
    assert not (out / "test.csv").exists()


def test_kinetics_annotations(tmp_path):
    videos = tmp_path / "k400"
    touch(videos / "train" / "abseiling" / "AAA_000010_000020.mp4")
    touch(videos / "train" / "zumba" / "BBB_000000_000010.mp4")
    touch(videos / "val" / "CCC_000005_000015.mp4")
    csv_path = tmp_path / "train.csv"
    csv_path.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,AAA,10,20,train\n"
        "zumba,BBB,0,10,train\n"
        "zumba,MISSING,0,10,train\n"
        "zumba,CCC,5,15,validate\n"
    )
    entries, missing = make_lists.kinetics_entries([str(csv_path)], str(videos))
    assert missing == 1 and sorted(entries) == ["train", "val"]
    out = tmp_path / "lists"
    assert (
        make_lists.main(["kinetics", str(csv_path), "--videos", str(videos), "--out", str(out)])
        == 0
    )
    train = read_list(str(out / "train.csv"))
    assert [(os.path.basename(r.path), r.label) for r in train] == [
        ("AAA_000010_000020.mp4", 0),
        ("BBB_000000_000010.mp4", 1),
    ]
    assert [r.label for r in read_list(str(out / "val.csv"))] == [1]
    assert (out / "labels.txt").read_text().split() == ["abseiling", "zumba"]
    assert make_lists.kinetics_name("x-y", "3.0", "13") == "x-y_000003_000013.mp4"


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        make_lists.folder_entries(str(tmp_path / "nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No <class>/<video>"):
        make_lists.folder_entries(str(tmp_path / "empty"))
    touch(tmp_path / "sp" / "c" / "a b.mp4")
    with pytest.raises(ValueError, match="separator"):
        make_lists.write_lists(make_lists.folder_entries(str(tmp_path / "sp")), str(tmp_path))
