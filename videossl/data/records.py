"""List files -> records (one record per video or frame folder).

Formats (see data_lists/README.md):

- ``video``: ``path label`` (PySlowFast / VideoMAE Kinetics), or ``path`` alone (label 0).
- ``pretrain``: ``path 0 -1`` (VideoMAE v2 pretraining lists; the middle field is the label).
- ``frames_start_total``: ``frame_dir start_idx total_frames`` (VideoMAE v2 raw frames, label 0).
- ``frames_total_label``: ``frame_dir total_frames label`` (VideoMAE v2 raw-frame fine-tuning).
- ``auto`` picks ``video`` for 1-2 fields and ``pretrain`` for 3 fields ending in ``-1``; other
  3-field lines are ambiguous and need an explicit format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

LIST_FORMATS = ("auto", "video", "pretrain", "frames_start_total", "frames_total_label")


class ListFormatError(ValueError):
    """A list file is missing or one of its lines cannot be parsed."""


@dataclass(frozen=True)
class VideoRecord:
    """One entry of a list file.

    ``path`` is a video file or a folder of frames; ``start_frame``/``num_frames`` describe a
    frame folder's range (``num_frames=-1``: unknown, ask the decoder).
    """

    path: str
    label: int = 0
    start_frame: int = 0
    num_frames: int = -1


def resolve_path(path: str, prefix: str, list_dir: str) -> str:
    """Join ``path`` with ``prefix``; relative paths without a prefix are relative to the list."""
    if prefix:
        return os.path.join(prefix, path)
    if os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(list_dir, path))


def _int(field: str, what: str, where: str) -> int:
    try:
        return int(field)
    except ValueError:
        raise ListFormatError(f"{where}: {what} must be an integer, got {field!r}.") from None


def parse_line(line: str, *, separator: str = " ", fmt: str = "auto", where: str = "") -> tuple:
    """Parse one list line into ``(path, label, start_frame, num_frames)``."""
    fields = line.split(separator) if separator != " " else line.split()
    if fmt == "auto":
        if len(fields) in (1, 2):
            fmt = "video"
        elif len(fields) == 3 and fields[2] == "-1":
            fmt = "pretrain"
        else:
            raise ListFormatError(
                f"{where}: cannot tell the format of {line!r} ({len(fields)} fields); set "
                "DATA.LIST_FORMAT to one of " + ", ".join(LIST_FORMATS[1:]) + "."
            )
    expected = {"video": (1, 2), "pretrain": (3,)}.get(fmt, (3,))
    if len(fields) not in expected:
        # Paths with spaces: keep the trailing numeric fields, join the rest back.
        n = max(expected)
        if len(fields) > n:
            fields = [separator.join(fields[: len(fields) - n + 1]), *fields[len(fields) - n + 1 :]]
        else:
            raise ListFormatError(
                f"{where}: expected {n} fields for format {fmt!r}, got {len(fields)} in {line!r}."
            )
    path = fields[0]
    if fmt == "video":
        label = _int(fields[1], "label", where) if len(fields) == 2 else 0
        return path, label, 0, -1
    if fmt == "pretrain":
        return path, _int(fields[1], "label", where), 0, -1
    if fmt == "frames_start_total":
        return path, 0, _int(fields[1], "start_idx", where), _int(fields[2], "total", where)
    if fmt == "frames_total_label":
        return path, _int(fields[2], "label", where), 0, _int(fields[1], "total", where)
    raise ListFormatError(f"Unknown list format {fmt!r}; use one of {', '.join(LIST_FORMATS)}.")


def _parse_list(
    list_path: str, *, separator: str, prefix: str, fmt: str
) -> tuple[list[VideoRecord], list[int], list[str]]:
    """(records, their line numbers, errors naming file:line) of a list file."""
    if fmt not in LIST_FORMATS:
        raise ListFormatError(f"Unknown list format {fmt!r}; use one of {', '.join(LIST_FORMATS)}.")
    if not os.path.isfile(list_path):
        raise ListFormatError(
            f"List file {list_path} does not exist: check DATA.PATH_TO_DATA_DIR "
            "(see data_lists/README.md for the expected files)."
        )
    list_dir = os.path.dirname(os.path.abspath(list_path))
    records, lines, errors = [], [], []
    with open(list_path, errors="replace") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{list_path}:{number}"
            try:
                path, label, start, total = parse_line(
                    line, separator=separator, fmt=fmt, where=where
                )
            except ListFormatError as e:
                errors.append(str(e))
                continue
            records.append(VideoRecord(resolve_path(path, prefix, list_dir), label, start, total))
            lines.append(number)
    if not records and not errors:
        errors.append(f"List file {list_path} has no entries.")
    return records, lines, errors


def _raise_all(list_path: str, errors: list[str], shown: int = 8) -> None:
    """One ListFormatError (one line) naming every broken line, the first `shown` in full."""
    if not errors:
        return
    prefix_len = len(list_path) + 1

    def line_of(error: str) -> int:
        head = error[prefix_len:].split(":", 1)[0] if error.startswith(list_path) else ""
        return int(head) if head.isdigit() else 0

    errors = sorted(errors, key=line_of)
    if len(errors) == 1:
        raise ListFormatError(errors[0])
    more = f"; ... and {len(errors) - shown} more" if len(errors) > shown else ""
    raise ListFormatError(
        f"{len(errors)} broken lines in {list_path}: " + "; ".join(errors[:shown]) + more
    )


def read_list(
    list_path: str, *, separator: str = " ", prefix: str = "", fmt: str = "auto"
) -> list[VideoRecord]:
    """Read a list file into records. Errors name the file and the line number (all of them)."""
    records, _, errors = _parse_list(list_path, separator=separator, prefix=prefix, fmt=fmt)
    _raise_all(list_path, errors)
    return records


def validate_list(
    list_path: str,
    *,
    separator: str = " ",
    prefix: str = "",
    fmt: str = "auto",
    num_classes: int = 0,
) -> list[VideoRecord]:
    """Read a list and check it whole: columns, integer labels, labels in
    ``[0, num_classes)`` (when ``num_classes`` > 0) and duplicate paths. Raises one
    ListFormatError naming every broken ``file:line``; returns the records when all is well."""
    records, lines, errors = _parse_list(list_path, separator=separator, prefix=prefix, fmt=fmt)
    first_line: dict[str, int] = {}
    for record, number in zip(records, lines):
        where = f"{list_path}:{number}"
        if num_classes > 0 and not 0 <= record.label < num_classes:
            errors.append(
                f"{where}: label {record.label} is outside [0, {num_classes}) (MODEL.NUM_CLASSES)"
            )
        if record.path in first_line:
            errors.append(f"{where}: duplicate of line {first_line[record.path]} ({record.path})")
        else:
            first_line[record.path] = number
    _raise_all(list_path, errors)
    return records


def check_records_exist(records: list[VideoRecord], source: str, sample: int = 64) -> None:
    """Fail at start-up when none of (a sample of) the records exists on disk."""
    step = max(1, len(records) // sample)
    probe = records[::step][:sample]
    if probe and not any(os.path.exists(r.path) for r in probe):
        raise FileNotFoundError(
            f"None of the {len(probe)} checked entries of {source} exist (first: {probe[0].path}). "
            "Check DATA.PATH_PREFIX and DATA.PATH_TO_DATA_DIR."
        )


def read_labels(path: str) -> list[str]:
    """Class names, one per line; the line number (from 0) is the label."""
    if not os.path.isfile(path):
        raise ListFormatError(f"Labels file {path} does not exist.")
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]
