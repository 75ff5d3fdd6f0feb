"""Valid registry names per config key, known without importing torch.

The command line checks names before anything heavy is imported (torch alone takes seconds),
so the built-in names are listed here; `tests/test_faults.py` asserts that they match the
registries. Names registered at run time (a plug-in module already imported) are accepted too.
"""

from __future__ import annotations

import difflib
import sys

# key -> (built-in names, (module, registry attribute) or None)
REGISTRY_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, str] | None]] = {
    "MODEL.ARCH": (("mvit", "vit"), ("videossl.models.registry", "ENCODERS")),
    "MODEL.OBJECTIVE": (
        ("ava", "classification", "linear_probe", "mae", "maskfeat"),
        ("videossl.models.registry", "OBJECTIVES"),
    ),
    "MASK.TYPE": (("cube", "random", "tube"), ("videossl.masking", "MASKERS")),
    "MASK.DECODER_TYPE": (("", "running_cell"), None),
    "TARGET.NAMES": (("hog", "pixel"), ("videossl.targets", "TARGETS")),
    "DATA.DATASET": (("ava", "folder", "kinetics", "ssv2"), ("videossl.data.build", "DATASETS")),
    "DATA.DECODER": (("decord", "frames", "pyav"), None),
    "TRAIN.LOSS_GUARD_ACTION": (("lower_lr", "skip", "stop"), None),
    "DATA.LIST_FORMAT": (
        ("auto", "frames_start_total", "frames_total_label", "pretrain", "video"),
        None,
    ),
    # A subset of timm's optimisers (all accepted by timm.optim.create_optimizer_v2).
    "SOLVER.OPTIMIZER": (
        (
            "adabelief", "adafactor", "adagrad", "adam", "adamax", "adamp", "adamw", "adan",
            "adopt", "lamb", "lars", "lion", "madgrad", "momentum", "nadam", "nadamw",
            "nesterov", "novograd", "radam", "rmsprop", "rmsproptf", "sgd", "sgdp", "sgdw",
        ),
        None,
    ),
}  # fmt: skip


# Objectives that run on some encoder families only (the registry entry's `encoders`; a test
# keeps the two equal), with the reason the command line gives.
OBJECTIVE_ENCODERS: dict[str, tuple[tuple[str, ...], str]] = {
    "mae": (
        ("vit",),
        "MAE encodes only the visible tokens, which an encoder that pools its token grid "
        "(MViTv2) cannot do; use MODEL.ARCH vit, or MODEL.OBJECTIVE maskfeat for MViTv2",
    ),
}


def valid_names(key: str) -> list[str]:
    """Built-in names for `key` plus any registered in an already-imported registry."""
    names, where = REGISTRY_KEYS[key]
    out = set(names)
    if where is not None and where[0] in sys.modules:
        registry = getattr(sys.modules[where[0]], where[1], None)
        if registry is not None:
            out.update(name for name, _ in registry)
    return sorted(out)


def name_error(key: str, value: str) -> str | None:
    """None when `value` is valid for `key`, else a message with the nearest valid name."""
    valid = valid_names(key)
    lookup = value.lower() if key == "SOLVER.OPTIMIZER" else value
    if lookup in valid:
        return None
    close = difflib.get_close_matches(str(value), [v for v in valid if v], n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    shown = ", ".join(repr(v) for v in valid)
    return f"{key}={value!r} is not a valid name.{hint} Valid: {shown}."
