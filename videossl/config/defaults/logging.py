"""LOGGING: console, JSON lines, TensorBoard."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.LOG = CfgNode()
    cfg.LOG.PERIOD = 10
    cfg.LOG.TENSORBOARD = False
