"""DISTRIBUTED: process group set-up."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.NUM_GPUS = 1
    cfg.NUM_SHARDS = 1
    cfg.SHARD_ID = 0
    cfg.DISTRIBUTED = CfgNode()
    # "auto" = nccl with CUDA, gloo otherwise.
    cfg.DISTRIBUTED.BACKEND = "auto"
    cfg.DISTRIBUTED.INIT_METHOD = "tcp://localhost:9999"
    # Seconds a collective may wait before the run fails with a clear error (logged at start).
    cfg.DISTRIBUTED.TIMEOUT_S = 600
