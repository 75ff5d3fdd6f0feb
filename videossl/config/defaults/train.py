"""TRAIN: the training run, checkpointing and loss guards."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.TRAIN = CfgNode()
    cfg.TRAIN.ENABLE = True
    # Clips per optimiser micro-step across all processes (PySlowFast semantics):
    # each process gets BATCH_SIZE / world size.
    cfg.TRAIN.BATCH_SIZE = 8
    # Weights to start from (fine-tuning); "" = none. Format is detected.
    cfg.TRAIN.CHECKPOINT_FILE_PATH = ""
    # Load CHECKPOINT_FILE_PATH even when weights are lost or left at init (see
    # videossl.pretrained.weight_problems); off: such a load raises with the list.
    cfg.TRAIN.CHECKPOINT_ALLOW_MISMATCH = False
    cfg.TRAIN.AUTO_RESUME = True
    cfg.TRAIN.CHECKPOINT_PERIOD = 1
    # Also checkpoint every this many iterations (0 = off).
    cfg.TRAIN.CHECKPOINT_ITER_PERIOD = 0
    cfg.TRAIN.CHECKPOINT_KEEP = 3
    cfg.TRAIN.EVAL_PERIOD = 0
    # "bf16", "fp16" or "" (fp32).
    cfg.TRAIN.AMP = ""
    cfg.TRAIN.COMPILE = False
    cfg.TRAIN.EMA = 0.0
    cfg.TRAIN.MIXUP = 0.0
    cfg.TRAIN.CUTMIX = 0.0
    cfg.TRAIN.DETERMINISTIC = False
    # Loss guard: a loss above FACTOR x the recent mean, or non-finite, rolls back.
    cfg.TRAIN.LOSS_GUARD_FACTOR = 10.0
    cfg.TRAIN.LOSS_GUARD_WINDOW = 50
    cfg.TRAIN.LOSS_GUARD_MAX_ROLLBACKS = 3
    # A loss above this is bad from the first step (0 = off).
    cfg.TRAIN.LOSS_GUARD_ABS_MAX = 1.0e4
    # A gradient norm above this x the running median is bad (0 = off).
    cfg.TRAIN.LOSS_GUARD_GRAD_FACTOR = 100.0
    # After a roll-back: "lower_lr" (x LOSS_GUARD_LR_FACTOR), "skip" the batch, or "stop".
    cfg.TRAIN.LOSS_GUARD_ACTION = "lower_lr"
    cfg.TRAIN.LOSS_GUARD_LR_FACTOR = 0.5
    # Stop after this many iterations per epoch (0 = full epoch); for smoke runs.
    cfg.TRAIN.MAX_ITERS_PER_EPOCH = 0
