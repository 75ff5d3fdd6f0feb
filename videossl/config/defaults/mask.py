"""MASK: which tokens are hidden from the encoder."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.MASK = CfgNode()
    # Masker registry name: "cube", "tube", "random".
    cfg.MASK.TYPE = "cube"
    cfg.MASK.RATIO = 0.4
    # Mask unit in frames x pixels x pixels (MaskFeat: 2-frame x 32x32 units).
    cfg.MASK.UNIT = [2, 32, 32]
    # Cube masking: block temporal extent range in units (upper 0 = whole grid), spatial area
    # range as fractions of the h*w unit grid (int(h*w*MIN)..h*w*MAX units), log-uniform aspect.
    cfg.MASK.TEMPORAL_RANGE = [1, 0]
    cfg.MASK.MIN_AREA_FRAC = 0.2
    cfg.MASK.MAX_AREA_FRAC = 1.0
    cfg.MASK.ASPECT_RANGE = [0.3, 3.3333]
    # Draw masks in the loader workers (the sequential cube masker) instead of on the device.
    cfg.MASK.IN_LOADER = False
    # VideoMAE v2 decoder masking ("" = off, "running_cell"); DECODER_RATIO is VideoMAE v2's
    # decoder_mask_ratio: the fraction of tokens the decoder does NOT reconstruct.
    cfg.MASK.DECODER_TYPE = ""
    cfg.MASK.DECODER_RATIO = 0.5
