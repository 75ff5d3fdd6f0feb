#!/usr/bin/env python
"""Write one pooled encoder feature vector per video (views averaged) to numpy files.

    python tools/extract_features.py --cfg CFG.yaml --checkpoint FILE --out DIR \
        [--per-clip] [--split test] [--format auto] [--device cpu] [--opts KEY VALUE ...]

The encoder is the one CFG describes (MODEL.ARCH, VIT.* / MVIT.*); tokens are pooled with
MODEL.POOL ("mean" or "cls"). The split's views are TEST.NUM_ENSEMBLE_VIEWS x
TEST.NUM_SPATIAL_CROPS for "test". --checkpoint takes our checkpoints (a file or a run folder)
or a VideoMAE / MAE-ST / PySlowFast file. Outputs in DIR: features.npy [V,C] float32,
labels.npy [V] int64, paths.txt (line v = video v); with --per-clip also clip_features.npy
[V,S,C] and clip_valid.npy [V,S] (S views per video, in the dataset's view order).
"""

from __future__ import annotations

import argparse
import logging
import sys

import torch

from videossl import checkpoint as ckpt
from videossl.config import load_config
from videossl.data.build import build_dataset, collate
from videossl.features import (
    average_views,
    deduplicate_views,
    extract_clip_features,
    per_clip_array,
    save_features,
)
from videossl.models.build import build_model
from videossl.models.normalize import Normalize
from videossl.pretrained import FORMATS, load_pretrained

logger = logging.getLogger("extract_features")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cfg", required=True, help="config YAML describing the encoder and data")
    p.add_argument("--checkpoint", required=True, help="weights: a file or one of our run dirs")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--per-clip", action="store_true", help="also write per-view features")
    p.add_argument("--format", default="auto", choices=FORMATS, help="checkpoint layout")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=0, help="clips per step (0: TEST.BATCH_SIZE)")
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE overrides")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, str]:
    cfg = load_config([args.cfg], args.opts)
    device = torch.device(args.device)
    encoder = build_model(cfg).encoder  # with the switches its objective gives it
    path = ckpt.resolve(args.checkpoint)
    report = load_pretrained(encoder, path, fmt=args.format, target_prefix="")
    if not report.loaded:
        raise SystemExit(f"No encoder weights were loaded from {path}.")
    encoder.to(device).eval()
    dataset = build_dataset(cfg, args.split)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=args.batch_size or cfg.TEST.BATCH_SIZE,
        shuffle=False,
        num_workers=cfg.DATA.NUM_WORKERS,
        collate_fn=collate,
    )
    logger.info(
        "Extracting %s features of %d videos (%d clips) with %s weights from %s",
        args.split,
        dataset.num_videos,
        len(dataset),
        report.fmt,
        path,
    )
    clips = deduplicate_views(
        extract_clip_features(
            encoder,
            loader,
            pool=cfg.MODEL.POOL,
            device=device,
            amp=cfg.TRAIN.AMP if device.type == "cuda" else "",
            preprocess=Normalize(cfg.DATA.MEAN, cfg.DATA.STD).to(device),
        )
    )
    features, counts = average_views(
        clips["features"], clips["index"], dataset.num_videos, clips["valid"]
    )
    empty = int((counts == 0).sum())
    if empty:
        logger.warning("%d videos had no decodable view; their features are zeros", empty)
    clip_features = clip_valid = None
    if args.per_clip:
        views = len(dataset) // dataset.num_videos
        clip_features, clip_valid = per_clip_array(clips, dataset.num_videos, views)
    return save_features(
        args.out,
        features.numpy(),
        dataset.labels,
        dataset.paths,
        clip_features=clip_features,
        clip_valid=clip_valid,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    written = run(parse_args(argv))
    for name, path in written.items():
        logger.info("%s -> %s", name, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
