import os

import pytest

from videossl.data.records import (
    ListFormatError,
    VideoRecord,
    check_records_exist,
    parse_line,
    read_labels,
    read_list,
    resolve_path,
)


def test_formats():
    assert parse_line("a/b.mp4 3") == ("a/b.mp4", 3, 0, -1)
    assert parse_line("a/b.mp4") == ("a/b.mp4", 0, 0, -1)
    assert parse_line("a.mp4 0 -1") == ("a.mp4", 0, 0, -1)
    assert parse_line("a.mp4,7", separator=",") == ("a.mp4", 7, 0, -1)
    assert parse_line("dir 5 120", fmt="frames_start_total") == ("dir", 0, 5, 120)
    assert parse_line("dir 120 9", fmt="frames_total_label") == ("dir", 9, 0, 120)
    # A path containing the separator keeps its spaces.
    assert parse_line("my video.mp4 2", fmt="video") == ("my video.mp4", 2, 0, -1)


def test_ambiguous_and_bad_lines_name_file_and_line(tmp_path):
    with pytest.raises(ListFormatError, match="LIST_FORMAT"):
        parse_line("dir 5 120", where="x:1")
    lst = tmp_path / "train.csv"
    lst.write_text("a.mp4 1\n\nb.mp4 cat\n")
    with pytest.raises(ListFormatError, match=rf"{lst}:3: label must be an integer"):
        read_list(str(lst))


def test_missing_and_empty_list(tmp_path):
    with pytest.raises(ListFormatError, match="does not exist"):
        read_list(str(tmp_path / "nope.csv"))
    (tmp_path / "e.csv").write_text("\n# comment\n")
    with pytest.raises(ListFormatError, match="no entries"):
        read_list(str(tmp_path / "e.csv"))
    with pytest.raises(ListFormatError, match="Unknown list format"):
        read_list(str(tmp_path / "e.csv"), fmt="csv")


def test_paths_resolve_against_prefix_or_list_dir(tmp_path):
    lst = tmp_path / "lists" / "val.csv"
    lst.parent.mkdir()
    lst.write_text("clips/a.mp4 1\n/abs/b.mp4 2\n")
    recs = read_list(str(lst))
    assert recs[0] == VideoRecord(str(tmp_path / "lists" / "clips" / "a.mp4"), 1)
    assert recs[1].path == "/abs/b.mp4"
    recs = read_list(str(lst), prefix="/data")
    assert recs[0].path == "/data/clips/a.mp4"
    assert resolve_path("x.mp4", "", "/l") == "/l/x.mp4"


def test_check_records_exist(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    check_records_exist([VideoRecord(str(tmp_path / "a.mp4"))], "list")
    with pytest.raises(FileNotFoundError, match="PATH_PREFIX"):
        check_records_exist([VideoRecord(str(tmp_path / "zz.mp4"))], "list")


def test_read_labels(tmp_path):
    (tmp_path / "labels.txt").write_text("cat\ndog\n\n")
    assert read_labels(str(tmp_path / "labels.txt")) == ["cat", "dog"]
    with pytest.raises(ListFormatError):
        read_labels(os.path.join(tmp_path, "none.txt"))
