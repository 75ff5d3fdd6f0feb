#!/usr/bin/env python
"""Try a recipe small on the CPU: the same recipe (objective, encoder family and structure,
masker, targets, head, dataset type, evaluator) with only the sizes shrunk, on a generated tiny
data set; one training step, a checkpoint, then the recipe's evaluation (videossl/recipes.py).

    python tools/try_recipe.py --cfg configs/kinetics/MVITv2_S_16x4_MaskFeat_PT.yaml
    python tools/try_recipe.py --cfg configs/ssv2/VIT_B_16x2_VideoMAE_FT.yaml --out /tmp/t \\
        TRAIN.AMP ''                      (extra overrides apply last)
    python tools/try_recipe.py --cfg CFG.yaml --print-overrides   (only show the overrides)
"""

import argparse
import os
import shlex
import sys

from videossl.config import load_config
from videossl.recipes import data_kind, shrink_overrides, try_recipe


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cfg", required=True, metavar="FILE", help="a recipe YAML")
    parser.add_argument(
        "--out", default="output/try_recipe", help="folder for the tiny data and the run"
    )
    parser.add_argument(
        "--print-overrides",
        action="store_true",
        help="print the run_net.py overrides that shrink the recipe, and exit",
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="extra KEY VALUE overrides")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.print_overrides:
        cfg = load_config([args.cfg], args.opts)
        data = os.path.join(args.out, "data", data_kind(cfg))
        run = os.path.join(args.out, "runs", os.path.splitext(os.path.basename(args.cfg))[0])
        print(shlex.join(shrink_overrides(cfg, data_dir=data, output_dir=run) + args.opts))
        return 0
    trial = try_recipe(args.cfg, args.out, args.opts)
    print(f"run folder: {trial.output_dir} (exit code {trial.exit_code})")
    print(f"train losses: {trial.losses}")
    print(f"checkpoints: {[os.path.basename(p) for p in trial.checkpoints]}")
    for record in trial.evaluations:
        metrics = {k: v for k, v in record.items() if k not in ("time", "type", "phase", "iter")}
        print(f"evaluation: {metrics}")
    ok = trial.exit_code == 0 and trial.losses and trial.checkpoints
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
