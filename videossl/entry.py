"""The ``videossl`` command (installed by ``pip install``): one entry point for the tools.

    videossl train --cfg CFG.yaml [KEY VALUE ...]     = python tools/run_net.py ...
    videossl test --cfg CFG.yaml [KEY VALUE ...]      = ... TRAIN.ENABLE False TEST.ENABLE True
    videossl convert-config [...]                     = python tools/convert_config.py ...
    videossl submit [...] / videossl benchmark [...]  = tools/submit.py / tools/benchmark.py

``submit`` and ``benchmark`` live in the repository's tools/ folder; they run from a checkout
(``pip install -e .``).
"""

from __future__ import annotations

import os
import runpy
import sys

COMMANDS = ("train", "test", "submit", "benchmark", "convert-config")
_TOOLS = {"submit": "submit.py", "benchmark": "benchmark.py"}


def _run_tool(name: str, argv: list[str]) -> int:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(repo, "tools", _TOOLS[name])
    if not os.path.isfile(path):
        sys.stderr.write(
            f"error: 'videossl {name}' runs tools/{_TOOLS[name]} of a repository checkout; "
            "install with `pip install -e .` from the checkout.\n"
        )
        return 2
    sys.argv = [path, *argv]
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        stream = sys.stdout if argv[:1] in (["-h"], ["--help"]) else sys.stderr
        stream.write(__doc__ or "")
        return 0 if stream is sys.stdout else 2
    command, rest = argv[0], argv[1:]
    if command in ("train", "test"):
        from .cli import main as run_net

        if command == "test":
            rest = [*rest, "TRAIN.ENABLE", "False", "TEST.ENABLE", "True"]
        return run_net(rest)
    if command == "convert-config":
        from .peers.convert import main as convert

        return convert(rest)
    return _run_tool(command, rest)
