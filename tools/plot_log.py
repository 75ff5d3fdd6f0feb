#!/usr/bin/env python
"""Plot a run's training curves: `python tools/plot_log.py RUN_DIR [--out FILE.png]`."""

import argparse
import sys

from videossl.plotting import plot_curves


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", help="a run's OUTPUT_DIR (holds metrics.jsonl)")
    parser.add_argument("--out", default=None, help="PNG path (default: RUN_DIR/curves.png)")
    args = parser.parse_args(argv)
    try:
        path = plot_curves(args.run_dir, args.out)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
