"""Default configuration, split by family. Each family module adds one or more top-level nodes."""

from fvcore.common.config import CfgNode

from . import (
    ava,
    data,
    distributed,
    launch,
    logging,
    mask,
    model,
    mvit,
    solver,
    target,
    test,
    train,
    vit,
)

FAMILIES = (
    data,
    mask,
    target,
    model,
    vit,
    mvit,
    solver,
    train,
    test,
    distributed,
    launch,
    logging,
    ava,
)


def get_defaults() -> CfgNode:
    """A fresh copy of every default value."""
    cfg = CfgNode()
    cfg.OUTPUT_DIR = "./output"
    cfg.RNG_SEED = 0
    for family in FAMILIES:
        family.add_defaults(cfg)
    return cfg
