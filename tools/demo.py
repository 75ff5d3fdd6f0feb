#!/usr/bin/env python
"""The built-in demo: MaskFeat and MAE pretraining vs scratch with few labels, on 2 CPU cores.

`python tools/demo.py` writes demo_data/ (once), runs every job under output/demo_compare/ and
ends with a table (test top-1, mean ± std over seeds) and output/demo_compare/demo.png.
"""

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", type=int, default=3, help="fine-tuning seeds (default 3)")
    p.add_argument("--data", default="demo_data", help="demo data folder (written if missing)")
    p.add_argument("--out", default="output/demo_compare", help="output folder")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--no-probe", action="store_true", help="skip the linear-probe row")
    p.add_argument("--pool-per-class", type=int, default=None, help="unlabeled clips per class")
    p.add_argument("--train-per-class", type=int, default=None, help="labeled clips per class")
    p.add_argument("--val-per-class", type=int, default=None)
    p.add_argument("--test-per-class", type=int, default=None)
    p.add_argument("--pretrain-epochs", type=int, default=None)
    p.add_argument("--finetune-epochs", type=int, default=None)
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="overrides for every job")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from videossl.demo_compare import DemoPlan, run_demo

    torch.set_num_threads(args.threads)
    sizes = {
        "pool_per_class": args.pool_per_class,
        "train_per_class": args.train_per_class,
        "val_per_class": args.val_per_class,
        "test_per_class": args.test_per_class,
        "pretrain_epochs": args.pretrain_epochs,
        "finetune_epochs": args.finetune_epochs,
    }
    plan = DemoPlan(
        config_dir=os.path.join(REPO, "configs", "demo"),
        data_dir=args.data,
        output_dir=args.out,
        seeds=tuple(range(args.seeds)),
        probe=not args.no_probe,
        opts=tuple(args.opts),
        **{k: v for k, v in sizes.items() if v is not None},
    )
    run_demo(plan)  # logs the table and the picture's path (stdout and OUTPUT/log.txt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
