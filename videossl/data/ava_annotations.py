"""AVA annotation files: box lists (ground truth or person proposals) checked row by row.

Row layout (no header): `video_id,timestamp,x1,y1,x2,y2,action_id,X` with normalised box
coordinates; X is the person id in ground-truth files and the detector score in proposal
files, whose action id may be empty. Rows of the same box in the same keyframe are merged
into one box with several actions.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field

import numpy as np

Key = tuple[str, int]


@dataclass
class KeyframeBoxes:
    """Boxes of one keyframe: normalised (x1,y1,x2,y2), their action ids, their sources."""

    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    actions: list[set[int]] = field(default_factory=list)
    source: str = ""

    def add(self, box: tuple[float, float, float, float], action: int | None) -> None:
        rounded = tuple(round(v, 3) for v in box)
        same = [
            i for i, other in enumerate(self.boxes) if tuple(round(v, 3) for v in other) == rounded
        ]
        if same:
            i = same[0]
        else:
            self.boxes.append(box)
            self.actions.append(set())
            i = len(self.boxes) - 1
        if action is not None:
            self.actions[i].add(action)

    def multi_hot(self, num_classes: int) -> np.ndarray:
        """[n, num_classes] float32; action id a sets column a - 1."""
        out = np.zeros((len(self.boxes), num_classes), dtype=np.float32)
        for i, acts in enumerate(self.actions):
            for a in acts:
                out[i, a - 1] = 1.0
        return out


def _fail(path: str, line_no: int, message: str) -> ValueError:
    return ValueError(f"{path}:{line_no}: {message}")


def parse_box_row(
    row: list[str], path: str, line_no: int, *, with_scores: bool, num_classes: int
) -> tuple[Key, tuple[float, float, float, float], int | None, float]:
    """One checked row -> (key, box, action id or None, score (1.0 for ground truth))."""
    if len(row) not in (7, 8):
        raise _fail(
            path,
            line_no,
            f"expected 8 columns video_id,timestamp,x1,y1,x2,y2,action_id,"
            f"{'score' if with_scores else 'person_id'}; got {len(row)}: {row}",
        )
    try:
        ts = int(row[1])
    except ValueError:
        raise _fail(path, line_no, f"timestamp {row[1]!r} is not an integer.") from None
    try:
        box = tuple(float(v) for v in row[2:6])
    except ValueError:
        raise _fail(path, line_no, f"box {row[2:6]} is not four numbers.") from None
    if not all(0.0 <= v <= 1.0 for v in box) or box[2] < box[0] or box[3] < box[1]:
        raise _fail(
            path,
            line_no,
            f"box {box} must be normalised x1,y1,x2,y2 in [0, 1] with x1<=x2, y1<=y2.",
        )
    action = None
    if row[6].strip() not in ("", "-1"):
        try:
            action = int(row[6])
        except ValueError:
            raise _fail(path, line_no, f"action id {row[6]!r} is not an integer.") from None
        if not 1 <= action <= num_classes:
            raise _fail(path, line_no, f"action id {action} is outside 1..{num_classes}.")
    elif not with_scores:
        raise _fail(path, line_no, "ground-truth rows need an action id.")
    score = 1.0
    if with_scores:
        if len(row) != 8:
            raise _fail(path, line_no, "proposal rows need a score in the 8th column.")
        try:
            score = float(row[7])
        except ValueError:
            raise _fail(path, line_no, f"score {row[7]!r} is not a number.") from None
    return (row[0], ts), box, action, score


def read_box_list(
    path: str,
    *,
    with_scores: bool,
    num_classes: int,
    score_thresh: float = 0.0,
    keyframe_range: tuple[int, int] | None = None,
    into: dict[Key, KeyframeBoxes] | None = None,
) -> dict[Key, KeyframeBoxes]:
    """Boxes per keyframe from one csv (added to `into` when given).

    Proposals (`with_scores`) below `score_thresh` are dropped; keyframes outside the
    inclusive `keyframe_range` are skipped.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"AVA box list not found: {path}")
    out = {} if into is None else into
    with open(path, newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row or (line_no == 1 and row[0].strip().lower() == "video_id"):
                continue
            key, box, action, score = parse_box_row(
                row, path, line_no, with_scores=with_scores, num_classes=num_classes
            )
            if with_scores and score < score_thresh:
                continue
            if keyframe_range is not None and not (
                keyframe_range[0] <= key[1] <= keyframe_range[1]
            ):
                continue
            frame = out.setdefault(key, KeyframeBoxes(source=f"{path}:{line_no}"))
            frame.add(box, action)
    return out
