"""TARGET: what the masked tokens must predict."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.TARGET = CfgNode()
    # Target registry names, one or more: "hog", "pixel".
    cfg.TARGET.NAMES = ["hog"]
    # Loss weight per target, same order as NAMES.
    cfg.TARGET.WEIGHTS = [1.0]
    cfg.TARGET.HOG_CELL_SIZE = 8
    cfg.TARGET.HOG_NBINS = 9
    cfg.TARGET.HOG_GAUSSIAN_WINDOW = False
    # Use frames 0, s, 2s, ... (0 = the temporal patch size: first frame of each patch).
    cfg.TARGET.HOG_FRAME_STRIDE = 0
    # Pixel target normalisation: "videomae", "maest" or "none".
    cfg.TARGET.PIXEL_NORM = "videomae"
