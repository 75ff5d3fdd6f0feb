"""VideoMAE and mae_st command-line flags -> videossl config keys (``tools/convert_config.py``).

Users keep their runs as shell scripts (``run_mae_pretraining.py --mask_type tube --mask_ratio
0.9 --batch_size 32 ...``). ``translate_flags(peer, argv, world_size)`` reads such a command
line with the peer script's own flag names and defaults (``videossl/peers/videomae_flags.py``,
``videossl/peers/mae_st_flags.py``) and returns the videossl keys that reproduce it. A flag is
translated exactly, accepted as runtime-only (device, logging, launcher), or reported: every
unknown flag and every value videossl cannot reproduce is listed in one error.

Batches and rates: the peers' ``--batch_size`` is per GPU; videossl's ``TRAIN.BATCH_SIZE`` is
global, so it becomes ``batch_size x world size`` (``--update_freq`` / ``--accum_iter`` become
``SOLVER.ACCUM_STEPS``). Both peers scale the rate linearly (VideoMAE ``lr x total batch / 256``,
mae_st ``blr x effective batch / 256``); videossl scales ``BASE_LR`` per ``REFERENCE_BATCH``
clips, so ``REFERENCE_BATCH`` is 256 times the clips each counted sample gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config.load import ConfigError

__all__ = ["Flag", "Args", "parse_flags", "translate_flags", "PEERS"]

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
# Launcher flags users paste with the script (torch.distributed.launch / torchrun).
LAUNCHER = {"--nproc_per_node", "--nnodes", "--node_rank", "--master_addr", "--master_port"}


@dataclass(frozen=True)
class Flag:
    """One argparse flag: ``kind`` is int, float, str, floats (nargs +), bool (type=bool: any
    non-empty text is True, as argparse reads it), or on / off (store_true / store_false)."""

    dest: str
    kind: str
    default: Any = None


@dataclass
class Args:
    """Parsed values by dest, the flags given, and the problems found (reported at once)."""

    values: dict[str, Any]
    given: set[str]
    bad: list[str] = field(default_factory=list)

    def __getitem__(self, dest: str) -> Any:
        return self.values[dest]

    def require(self, dest: str, allowed: Any, why: str) -> None:
        """Report ``dest`` unless its value is ``allowed`` (or one of a tuple of them)."""
        options = allowed if isinstance(allowed, tuple) else (allowed,)
        if self.values[dest] not in options:
            shown = " or ".join(repr(a) for a in options)
            self.bad.append(f"--{dest} {self.values[dest]!r}: videossl needs {shown} ({why})")


def _convert(flag: Flag, name: str, words: list[str], bad: list[str]) -> Any:
    if flag.kind in ("on", "off"):
        if words:
            bad.append(f"{name} takes no value (got {' '.join(words)!r})")
        return flag.kind == "on"
    if flag.kind == "floats":
        try:
            return [float(w) for w in words]
        except ValueError:
            bad.append(f"{name} {' '.join(words)!r}: not numbers")
            return flag.default
    if len(words) != 1:
        bad.append(f"{name} takes one value (got {len(words)})")
        return flag.default
    text = words[0]
    try:
        if flag.kind == "int":
            return int(text)
        if flag.kind == "float":
            return float(text)
    except ValueError:
        bad.append(f"{name} {text!r}: not a number")
        return flag.default
    if flag.kind == "bool":
        return bool(text)
    return text


def parse_flags(argv: list[str], spec: dict[str, Flag], script: str) -> Args:
    """Read ``--name value ...`` tokens with the peer's flag table (unknown flags reported)."""
    values = {f.dest: f.default for f in spec.values()}
    given: set[str] = set()
    bad: list[str] = []
    i = 0
    while i < len(argv):
        name = argv[i].split("=", 1)[0]
        if not name.startswith("--"):
            bad.append(f"{argv[i]!r}: expected a --flag")
            i += 1
            continue
        words = [argv[i].split("=", 1)[1]] if "=" in argv[i] else []
        i += 1
        while i < len(argv) and not argv[i].startswith("--") and "=" not in name:
            words.append(argv[i])
            i += 1
        if name in LAUNCHER:
            values[name] = words[0] if words else ""
            given.add(name)
            continue
        flag = spec.get(name)
        if flag is None:
            bad.append(f"{name}: not a flag of {script}")
            continue
        values[flag.dest] = _convert(flag, name, words, bad)
        given.add(flag.dest)
    return Args(values, given, bad)


def world_size(args: Args, gpus: int | None) -> tuple[int, int]:
    """(GPUs per node, nodes) of the original run: ``gpus`` in nodes of up to 8, or the
    launcher's --nproc_per_node and --nnodes."""
    if gpus is not None:
        per_node = 8 if gpus % 8 == 0 else int(gpus)
        return per_node, int(gpus) // per_node
    if "--nproc_per_node" in args.given:
        return int(args.values["--nproc_per_node"]), int(args.values.get("--nnodes") or 1)
    raise ConfigError(
        "The peers' --batch_size is per GPU: pass --gpus N (all GPUs of the original run), "
        "or include the launcher's --nproc_per_node and --nnodes flags."
    )


def batch_keys(args: Args, out: dict[str, Any], gpus: int | None) -> int:
    """NUM_GPUS / NUM_SHARDS and the global train / test batches; returns the world size."""
    per_node, nodes = world_size(args, gpus)
    world = per_node * nodes
    out["NUM_GPUS"], out["NUM_SHARDS"] = per_node, nodes
    out["TRAIN.BATCH_SIZE"] = out["TEST.BATCH_SIZE"] = args["batch_size"] * world
    return world


def optimizer_keys(args: Args, out: dict[str, Any]) -> None:
    """--opt / --opt_betas / --opt_eps / --momentum / --weight_decay(_end) / --clip_grad."""
    out["SOLVER.OPTIMIZER"] = args["opt"].lower()
    if args["opt_betas"]:
        out["SOLVER.BETAS"] = [float(b) for b in args["opt_betas"]]
    out["SOLVER.MOMENTUM"] = args["momentum"]
    out["SOLVER.WEIGHT_DECAY"] = args["weight_decay"]
    out["SOLVER.CLIP_GRAD"] = args["clip_grad"] or 0.0
    args.require("opt_eps", 1e-8, "AdamW eps is fixed at 1e-8")
    args.require("weight_decay_end", (None, args["weight_decay"]), "constant weight decay")
    args.require("warmup_steps", -1, "warm-up is given in epochs")


PEERS = ("videomae", "mae_st")


def translate_flags(peer: str, argv: list[str], gpus: int | None = None) -> dict[str, Any]:
    """A peer command line -> {videossl dotted key: value}; ConfigError listing every flag that
    has no equivalent."""
    from . import mae_st_flags, videomae_flags  # they import the helpers above

    dialects = {"videomae": videomae_flags.translate, "mae_st": mae_st_flags.translate}
    if peer not in dialects:
        raise ConfigError(f"Unknown flag dialect {peer!r}; choose from {sorted(dialects)}.")
    out, bad = dialects[peer](argv, gpus)
    if bad:
        lines = "\n".join(f"  {b}" for b in bad)
        raise ConfigError(f"{len(bad)} {peer} flag(s) have no videossl equivalent:\n{lines}")
    return out
