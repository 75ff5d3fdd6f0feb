"""Folder-per-class layout: ``<root>/<split>/<class name>/<video file or frame folder>``.

Class ids are the sorted class folder names of ``<root>/train`` (of the split itself when there
is no train folder), so every split uses the same ids.
"""

from __future__ import annotations

import os

from fvcore.common.config import CfgNode

from .base import VideoDataset
from .options import dataset_kwargs
from .records import VideoRecord

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v")


def list_classes(root: str) -> list[str]:
    """Sorted sub-folder names of ``root``."""
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))


def folder_records(split_dir: str, classes: list[str]) -> list[VideoRecord]:
    """One record per video file (or frame folder) under each class folder of ``split_dir``."""
    if not os.path.isdir(split_dir):
        raise FileNotFoundError(f"Folder dataset split {split_dir} does not exist.")
    records = []
    for label, name in enumerate(classes):
        class_dir = os.path.join(split_dir, name)
        if not os.path.isdir(class_dir):
            continue
        for entry in sorted(os.scandir(class_dir), key=lambda e: e.name):
            if entry.is_dir() or entry.name.lower().endswith(VIDEO_EXTENSIONS):
                records.append(VideoRecord(entry.path, label))
    if not records:
        raise FileNotFoundError(
            f"No videos ({', '.join(VIDEO_EXTENSIONS)}) or frame folders found under "
            f"{split_dir}/<class>/."
        )
    return records


class FolderDataset(VideoDataset):
    """Clips from a folder-per-class tree; ``classes`` holds the class names."""

    classes: list[str] = []

    @classmethod
    def from_config(cls, cfg: CfgNode, split: str) -> FolderDataset:
        root = cfg.DATA.PATH_TO_DATA_DIR
        train_dir = os.path.join(root, "train")
        classes = list_classes(train_dir if os.path.isdir(train_dir) else os.path.join(root, split))
        dataset = cls(
            folder_records(os.path.join(root, split), classes), **dataset_kwargs(cfg, split)
        )
        dataset.classes = classes
        return dataset
