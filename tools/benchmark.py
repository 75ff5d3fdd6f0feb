#!/usr/bin/env python
"""Benchmarks that print numbers: `python tools/benchmark.py {targets,loader,model} [options]`.

targets HOG targets: fast implementation vs a HOGLayerC-style conv + scatter-add one (same values);
        ms per 16x224 clip on CPU (and CUDA when present). `hog` is the same command.
loader  clips/s of the training data pipeline (16x4 clips, training transforms, repeated aug).
model   peak memory and step time of a pretraining step (e.g. ViT-B MAE, 16x224, batch 2).
"""

import argparse
import importlib
import json
import sys

COMMANDS = {
    "targets": "videossl.benchmarks.hog",
    "hog": "videossl.benchmarks.hog",
    "loader": "videossl.benchmarks.loader",
    "model": "videossl.benchmarks.model",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        module.add_args(sub.add_parser(name, help=(module.__doc__ or "").strip().split("\n")[0]))
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args(argv)
    result = modules[args.command].run(args)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>32}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
