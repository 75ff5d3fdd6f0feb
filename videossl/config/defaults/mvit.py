"""MVIT: the MViTv2 encoder."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.MVIT = CfgNode()
    # Preset: "T", "S", "S_MASKFEAT", "B", "L", "L_MASKFEAT" (videossl/models/mvit_presets.py);
    # or "custom" to use the architecture fields below (ignored otherwise). The input size comes
    # from DATA.NUM_FRAMES / DATA.TRAIN_CROP_SIZE; MODEL.OBJECTIVE "maskfeat" adds the mask token
    # and removes the last stage's Q pooling (stride-16 output).
    cfg.MVIT.PRESET = "S"
    cfg.MVIT.EMBED_DIM = 96
    cfg.MVIT.NUM_HEADS = 1
    # Blocks per stage; width and heads double at each stage transition.
    cfg.MVIT.DEPTHS = [1, 2, 11, 2]
    cfg.MVIT.MLP_RATIO = 4.0
    cfg.MVIT.CLS_TOKEN = True
    cfg.MVIT.ABS_POS_EMBED = False
    cfg.MVIT.REL_POS = True
    cfg.MVIT.RESIDUAL_POOLING = True
    cfg.MVIT.DIM_MUL_IN_ATT = True
    # Conv pooling kernel of Q/K/V, and the first KV stride (divided by each Q stride).
    cfg.MVIT.POOL_KERNEL = [3, 3, 3]
    cfg.MVIT.POOL_KV_STRIDE = [1, 8, 8]
    # Exclude cls/mask tokens and position tables from weight decay (PySlowFast
    # ZERO_DECAY_POS_CLS; False in the published MViTv2 and MaskFeat recipes).
    cfg.MVIT.ZERO_DECAY_POS_CLS = False
