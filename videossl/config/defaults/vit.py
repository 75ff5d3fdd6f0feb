"""VIT: the ViT video encoder."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.VIT = CfgNode()
    # Preset: "S", "B", "L", "H"; or "custom" to use the fields below.
    cfg.VIT.PRESET = "B"
    cfg.VIT.EMBED_DIM = 768
    cfg.VIT.DEPTH = 12
    cfg.VIT.NUM_HEADS = 12
    cfg.VIT.MLP_RATIO = 4.0
    cfg.VIT.PATCH_SIZE = 16
    cfg.VIT.TUBELET_SIZE = 2
    # "fused" (one qkv bias), "qv" (VideoMAE q_bias/v_bias) or "none".
    cfg.VIT.QKV_BIAS = "fused"
    # "sincos", "learned" or "separable" (MAE-spacetime).
    cfg.VIT.POS_EMBED = "sincos"
    cfg.VIT.CLS_TOKEN = False
    cfg.VIT.LAYER_SCALE_INIT = 0.0
