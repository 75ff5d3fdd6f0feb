#!/usr/bin/env python
"""Build ``path label`` list files (and ``labels.txt``) for DATA.DATASET kinetics.

From a folder-per-class tree (``ROOT/<class>/<video>``, or ``ROOT/<split>/<class>/<video>``
with train/val/test folders)::

    python data_lists/make_lists.py folder ROOT --out LISTS [--val-ratio 0.1 --seed 0]

From a Kinetics annotation csv (``label,youtube_id,time_start,time_end,split``, header line;
files named ``<youtube_id>_<time_start:06d>_<time_end:06d>.mp4`` anywhere under VIDEOS)::

    python data_lists/make_lists.py kinetics ANNOTATIONS.csv [MORE.csv] --videos VIDEOS --out LISTS

Writes ``LISTS/{train,val,test}.csv`` (the splits that have videos) and ``LISTS/labels.txt``
(sorted class names; line n is label n). Paths are relative to LISTS (the list reader resolves
them against the list's folder) unless ``--absolute``. Missing files are counted and skipped.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import random
import sys
from collections import defaultdict

logger = logging.getLogger("make_lists")

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v")
SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {"train": "train", "val": "val", "validate": "val", "validation": "val"}
SPLIT_ALIASES["test"] = "test"

Entry = tuple[str, str]  # (file path, class name)


def _videos_under(folder: str, extensions: tuple[str, ...]) -> list[str]:
    """Video files (or frame folders, when they hold images) directly under ``folder``."""
    out = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_file() and entry.name.lower().endswith(extensions):
            out.append(entry.path)
        elif entry.is_dir() and not entry.name.startswith("."):
            out.append(entry.path)  # a frame folder
    return out


def folder_entries(
    root: str, extensions: tuple[str, ...] = VIDEO_EXTENSIONS
) -> dict[str, list[Entry]]:
    """Entries per split: ``root/<split>/<class>/...`` when split folders exist, else all of
    ``root/<class>/...`` as "train"."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root} is not a folder")
    split_dirs = {s: os.path.join(root, s) for s in SPLITS if os.path.isdir(os.path.join(root, s))}
    if not split_dirs:
        split_dirs = {"train": root}
    out: dict[str, list[Entry]] = {}
    for split, folder in split_dirs.items():
        entries = []
        for cls in sorted(e.name for e in os.scandir(folder) if e.is_dir()):
            if cls.startswith("."):
                continue
            entries += [(p, cls) for p in _videos_under(os.path.join(folder, cls), extensions)]
        if entries:
            out[split] = entries
    if not out:
        raise FileNotFoundError(f"No <class>/<video> entries found under {root}")
    return out


def kinetics_name(youtube_id: str, start: str, end: str, ext: str = ".mp4") -> str:
    """``<youtube_id>_<start:06d>_<end:06d><ext>`` (the usual downloader naming)."""
    return f"{youtube_id}_{int(float(start)):06d}_{int(float(end)):06d}{ext}"


def kinetics_entries(csv_paths: list[str], videos: str) -> tuple[dict[str, list[Entry]], int]:
    """Entries per split from annotation csv files; files are looked up by name anywhere under
    ``videos``. Returns (entries, number of annotated clips whose file is missing)."""
    by_name: dict[str, str] = {}
    for folder, _, files in os.walk(videos):
        for name in files:
            by_name.setdefault(name, os.path.join(folder, name))
    out: dict[str, list[Entry]] = defaultdict(list)
    missing = 0
    for csv_path in csv_paths:
        with open(csv_path, newline="") as f:
            for row in csv.DictReader(f):
                name = kinetics_name(row["youtube_id"], row["time_start"], row["time_end"])
                split = SPLIT_ALIASES.get(row.get("split", "train").strip(), "train")
                path = by_name.get(name)
                if path is None:
                    missing += 1
                    continue
                out[split].append((path, row.get("label", "").strip()))
    return dict(out), missing


def split_train_val(entries: list[Entry], ratio: float, seed: int) -> tuple[list, list]:
    """Move ``ratio`` of each class (rounded half up, at least one when ratio > 0 and the class has
    two or more videos) from train to val; deterministic for a seed."""
    by_class: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_class[entry[1]].append(entry)
    rng = random.Random(seed)
    train, val = [], []
    for cls in sorted(by_class):
        items = sorted(by_class[cls])
        rng.shuffle(items)
        n_val = int(len(items) * ratio + 0.5)  # rounded half up
        if ratio > 0 and n_val == 0 and len(items) > 1:
            n_val = 1
        val += items[:n_val]
        train += items[n_val:]
    return sorted(train), sorted(val)


def write_lists(
    splits: dict[str, list[Entry]],
    out: str,
    *,
    separator: str = " ",
    absolute: bool = False,
    classes: list[str] | None = None,
) -> list[str]:
    """Write ``out/<split>.csv`` and ``out/labels.txt``; returns the class names. Entries with
    an unknown (empty) class get label 0 (e.g. an unlabelled test split)."""
    os.makedirs(out, exist_ok=True)
    if classes is None:
        classes = sorted({cls for entries in splits.values() for _, cls in entries if cls})
    ids = {name: i for i, name in enumerate(classes)}
    for split, entries in splits.items():
        lines = []
        for path, cls in entries:
            shown = os.path.abspath(path) if absolute else os.path.relpath(path, out)
            if separator in shown:
                raise ValueError(f"{shown!r} contains the separator {separator!r}; pick another")
            lines.append(f"{shown}{separator}{ids.get(cls, 0)}")
        with open(os.path.join(out, f"{split}.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")
        logger.info("%s: %d videos -> %s", split, len(lines), os.path.join(out, f"{split}.csv"))
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(classes) + "\n")
    return classes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", choices=("folder", "kinetics"))
    parser.add_argument("inputs", nargs="+", help="ROOT folder, or annotation csv file(s)")
    parser.add_argument("--out", required=True, help="folder for the lists and labels.txt")
    parser.add_argument("--videos", default="", help="kinetics: folder holding the videos")
    parser.add_argument("--separator", default=" ", help="between path and label")
    parser.add_argument("--absolute", action="store_true", help="absolute paths")
    parser.add_argument(
        "--val-ratio", type=float, default=0.0, help="move this fraction of train to val"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/val split")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.source == "folder":
        if len(args.inputs) != 1:
            parser.error("folder takes one ROOT")
        splits = folder_entries(args.inputs[0])
    else:
        if not args.videos:
            parser.error("kinetics needs --videos")
        splits, missing = kinetics_entries(args.inputs, args.videos)
        if missing:
            logger.warning("%d annotated clips have no file under %s", missing, args.videos)
        if not splits:
            logger.error("No annotated clip was found under %s", args.videos)
            return 1
    if args.val_ratio > 0:
        if "val" in splits:
            parser.error("--val-ratio with an existing val split")
        splits["train"], splits["val"] = split_train_val(
            splits.get("train", []), args.val_ratio, args.seed
        )
    classes = sorted({c for entries in splits.values() for _, c in entries if c})
    write_lists(splits, args.out, separator=args.separator, absolute=args.absolute, classes=classes)
    logger.info("%d classes -> %s", len(classes), os.path.join(args.out, "labels.txt"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
