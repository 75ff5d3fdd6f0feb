"""SOLVER: optimiser and learning-rate schedule."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.SOLVER = CfgNode()
    # Any timm optimizer name: "adamw" (default), "sgd" (momentum SOLVER.MOMENTUM), "lamb", ...
    cfg.SOLVER.OPTIMIZER = "adamw"
    cfg.SOLVER.MOMENTUM = 0.9
    # Learning rate for REFERENCE_BATCH clips; scaled linearly to the global batch.
    cfg.SOLVER.BASE_LR = 1e-4
    cfg.SOLVER.REFERENCE_BATCH = 256
    cfg.SOLVER.MIN_LR = 1e-6
    cfg.SOLVER.WARMUP_START_LR = 1e-6
    # Scale MIN_LR and WARMUP_START_LR with the batch like BASE_LR (given per REFERENCE_BATCH,
    # as VideoMAE's min_lr / warmup_lr); False = absolute rates.
    cfg.SOLVER.SCALE_MIN_LR = False
    cfg.SOLVER.WARMUP_EPOCHS = 10.0
    cfg.SOLVER.MAX_EPOCH = 300
    cfg.SOLVER.WEIGHT_DECAY = 0.05
    cfg.SOLVER.BETAS = [0.9, 0.999]
    cfg.SOLVER.LAYER_DECAY = 1.0
    # Gradient clipping by global norm (0 = off).
    cfg.SOLVER.CLIP_GRAD = 0.0
    # Micro-batches accumulated per optimiser step.
    cfg.SOLVER.ACCUM_STEPS = 1
    cfg.SOLVER.FUSED = True
