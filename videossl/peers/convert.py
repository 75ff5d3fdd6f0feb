"""``convert-config``: write a videossl YAML from a PySlowFast YAML or a VideoMAE / mae_st command
line, so a user migrates once (``tools/convert_config.py``, ``videossl convert-config``).

    python tools/convert_config.py configs/masked_ssl/k400_MVITv2_S_16x4_FT.yaml -o ours.yaml
    python tools/convert_config.py --from videomae --gpus 64 -o ours.yaml -- \\
        --model pretrain_videomae_base_patch16_224 --mask_type tube --mask_ratio 0.9 ...
    python tools/convert_config.py --from mae_st --gpus 128 -o ours.yaml -- --blr 1.6e-3 ...

The PySlowFast translation is the one ``--cfg`` applies (videossl/peers/pyslowfast_config.py);
the flag translation is videossl/peers/flags.py. Keys or flags with no equivalent are listed
together and nothing is written.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from ..config.load import ConfigError
from .pyslowfast_config import to_tree

SOURCES = ("pyslowfast", "videomae", "mae_st")


def convert(source: str, inputs: list[str], gpus: int | None = None) -> dict:
    """The videossl config tree for a PySlowFast file (``inputs = [path]``) or peer flags."""
    if source == "pyslowfast":
        from ..config.load import read_config_tree

        if len(inputs) != 1:
            raise ConfigError("Give exactly one PySlowFast YAML file to convert.")
        return read_config_tree(inputs[0], "pyslowfast")
    from .flags import translate_flags

    return to_tree(dict(sorted(translate_flags(source, inputs, gpus).items())))


def render(tree: dict, note: str) -> str:
    header = f"# Converted by videossl convert-config from {note}.\n"
    return header + yaml.safe_dump(tree, sort_keys=True, default_flow_style=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convert_config",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--from", dest="source", choices=SOURCES, default="pyslowfast")
    parser.add_argument("--gpus", type=int, default=None, help="GPUs of the original run")
    parser.add_argument("-o", "--out", default="-", help="output YAML (default: stdout)")
    parser.add_argument("path", nargs="?", help="the PySlowFast YAML file (else -- FLAGS)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    inputs = [args.path] if args.path else argv[split + 1 :]
    try:
        tree = convert(args.source, inputs, args.gpus)
    except ConfigError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    note = inputs[0] if args.source == "pyslowfast" else f"{args.source} flags"
    text = render(tree, note)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w") as f:
            f.write(text)
    return 0
