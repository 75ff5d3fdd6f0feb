"""TEST: evaluation views and outputs."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.TEST = CfgNode()
    cfg.TEST.ENABLE = True
    # Clips per step across all processes.
    cfg.TEST.BATCH_SIZE = 8
    # Weights to test; "" = the model just trained (or the newest checkpoint).
    cfg.TEST.CHECKPOINT_FILE_PATH = ""
    cfg.TEST.NUM_ENSEMBLE_VIEWS = 10
    cfg.TEST.NUM_SPATIAL_CROPS = 3
    # "sum" (softmax averaged) or "max" over views.
    cfg.TEST.ENSEMBLE_METHOD = "sum"
    # Extra numbers of temporal views to report from one run (a view sweep), e.g. [1, 3, 5].
    cfg.TEST.VIEW_SWEEP = []
    cfg.TEST.SAVE_PREDICTIONS = True
