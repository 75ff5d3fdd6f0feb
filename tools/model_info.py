#!/usr/bin/env python
"""Print params and GFLOPs per view (fvcore, counted on the meta device) of ViT presets.

python tools/model_info.py [--presets S,B,L,H] [--frames 16] [--size 224] [--table]
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from videossl.models.flops import model_report  # noqa: E402
from videossl.models.vit import PRESETS, VisionTransformer3D  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--presets", default="S,B,L,H")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=224)
    p.add_argument(
        "--num-classes",
        type=int,
        default=400,
        help="add a head of this size (with fc_norm) to the parameter count",
    )
    p.add_argument("--table", action="store_true", help="also print fvcore's per-module table")
    args = p.parse_args(argv)
    for name in args.presets.split(","):
        with torch.device("meta"):
            enc = VisionTransformer3D(img_size=args.size, num_frames=args.frames, **PRESETS[name])
        params, gflops, table = model_report(enc, (1, 3, args.frames, args.size, args.size))
        head = (enc.embed_dim + 1) * args.num_classes + 2 * enc.embed_dim
        print(
            f"ViT-{name}: encoder {params / 1e6:.1f}M params, with {args.num_classes}-way "
            f"head {(params + head) / 1e6:.1f}M, {gflops:.1f} GFLOPs per "
            f"{args.frames}x{args.size}^2 view"
        )
        if args.table:
            print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
