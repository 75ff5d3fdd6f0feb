"""Something-Something v2 from the official json files.

``PATH_TO_DATA_DIR`` holds ``something-something-v2-labels.json`` (template -> id) and
``something-something-v2-{train,validation}.json`` (entries with ``id`` and ``template``); val
and test both read the validation split. Videos are ``<PATH_PREFIX>/<id>.webm``, or frame folders
``<PATH_PREFIX>/<id>/`` with DATA.DECODER "frames". Segment sampling, no horizontal flip.
"""

from __future__ import annotations

import json
import os

from fvcore.common.config import CfgNode

from .base import VideoDataset
from .options import dataset_kwargs
from .records import ListFormatError, VideoRecord, check_records_exist

SPLIT_FILES = {"train": "train", "val": "validation", "test": "validation"}


def clean_template(template: str) -> str:
    """'Putting [something] on [something]' -> 'Putting something on something'."""
    return template.replace("[", "").replace("]", "")


def _load_json(path: str):
    if not os.path.isfile(path):
        raise ListFormatError(f"SSv2 file {path} does not exist: check DATA.PATH_TO_DATA_DIR.")
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ListFormatError(f"{path}:{e.lineno}: invalid json ({e.msg}).") from e


def ssv2_records(data_dir: str, split: str, *, prefix: str, frames: bool) -> list[VideoRecord]:
    """Records of one split: paths ``<prefix>/<id>.webm`` (or ``<prefix>/<id>`` for frames)."""
    labels_path = os.path.join(data_dir, "something-something-v2-labels.json")
    label_map = {clean_template(k): int(v) for k, v in _load_json(labels_path).items()}
    split_path = os.path.join(data_dir, f"something-something-v2-{SPLIT_FILES[split]}.json")
    records = []
    video_dir = prefix or data_dir
    for number, entry in enumerate(_load_json(split_path)):
        try:
            vid, template = str(entry["id"]), clean_template(entry["template"])
        except (KeyError, TypeError) as e:
            raise ListFormatError(f"{split_path}: entry {number} lacks 'id' or 'template'.") from e
        if template not in label_map:
            raise ListFormatError(
                f"{split_path}: entry {number} (id {vid}) has template {template!r}, which is not "
                f"in {labels_path}."
            )
        path = os.path.join(video_dir, vid if frames else f"{vid}.webm")
        records.append(VideoRecord(path, label_map[template]))
    return records


class SSv2Dataset(VideoDataset):
    """SSv2 clips: NUM_FRAMES segments; test views = TEST.NUM_ENSEMBLE_VIEWS offsets x crops."""

    @classmethod
    def from_config(cls, cfg: CfgNode, split: str) -> SSv2Dataset:
        if cfg.DATA.NUM_SEGMENTS != cfg.DATA.NUM_FRAMES:
            raise ValueError(
                f"DATA.NUM_SEGMENTS={cfg.DATA.NUM_SEGMENTS} must equal DATA.NUM_FRAMES="
                f"{cfg.DATA.NUM_FRAMES} for SSv2 (one frame per segment)."
            )
        records = ssv2_records(
            cfg.DATA.PATH_TO_DATA_DIR,
            split,
            prefix=cfg.DATA.PATH_PREFIX,
            frames=cfg.DATA.DECODER == "frames",
        )
        check_records_exist(records, f"the SSv2 {split} split")
        return cls(records, sampling="segment", **dataset_kwargs(cfg, split, flip=False))
