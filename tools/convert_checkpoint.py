#!/usr/bin/env python
"""Convert a VideoMAE / mae_st / PySlowFast checkpoint to videossl's layout.

    python tools/convert_checkpoint.py --src FILE --format videomae|mae_st|pyslowfast --out FILE

Writes {"model": state dict with encoder weights under "encoder." (plus "head."/"decoder." with
--include), "meta": {...}}, which `videossl.pretrained.load_pretrained` and the trainer's
pretrained-weights option read as format "ours".
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Sequence

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from videossl.pretrained import read_checkpoint, to_our_layout  # noqa: E402

logger = logging.getLogger("convert_checkpoint")
PARTS = ("encoder", "head", "decoder")


def convert(
    src: str, fmt: str, include: Sequence[str] = ("encoder",), arch: str = "auto"
) -> dict[str, Any]:
    """The converted checkpoint dict {"model": ..., "meta": ...}."""
    vit = None if arch == "auto" else arch == "vit"
    state, fmt = to_our_layout(read_checkpoint(src), fmt, vit=vit)
    model = {k: v.contiguous() for k, v in state.items() if k.split(".", 1)[0] in include}
    if not any(k.startswith("encoder.") for k in model):
        raise ValueError(f"{src}: no encoder weights found after conversion as {fmt!r}")
    meta = {
        "source": os.path.abspath(src),
        "format": fmt,
        "include": list(include),
        "num_tensors": len(model),
        "num_params": int(sum(v.numel() for v in model.values())),
    }
    return {"model": model, "meta": meta}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--src", required=True, help="checkpoint to convert")
    p.add_argument(
        "--format",
        default="auto",
        choices=("auto", "videomae", "mae_st", "pyslowfast", "ours"),
        help="layout of --src (default: guessed from its keys)",
    )
    p.add_argument("--out", required=True, help="where to write the converted checkpoint")
    p.add_argument(
        "--include",
        default="encoder",
        help="comma-separated parts to keep: encoder,head,decoder (default encoder)",
    )
    p.add_argument(
        "--arch",
        default="auto",
        choices=("auto", "vit", "mvit"),
        help="PySlowFast only: encoder family of the checkpoint (default: guessed)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_args(argv)
    include = [s.strip() for s in args.include.split(",") if s.strip()]
    bad = [s for s in include if s not in PARTS]
    if bad:
        raise SystemExit(f"--include: unknown part(s) {bad}; choose from {PARTS}")
    ckpt = convert(args.src, args.format, include, args.arch)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(ckpt, args.out)
    meta = ckpt["meta"]
    logger.info(
        "wrote %s: %d tensors, %.2fM parameters (from %s, format %s)",
        args.out,
        meta["num_tensors"],
        meta["num_params"] / 1e6,
        args.src,
        meta["format"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
