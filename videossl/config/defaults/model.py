"""MODEL: which objective and encoder, and the head."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.MODEL = CfgNode()
    # Objective registry name: "maskfeat", "mae", "classification", "ava".
    cfg.MODEL.OBJECTIVE = "classification"
    # Encoder family ("vit", "mvit"); the family's own node (VIT / MVIT) holds its options.
    cfg.MODEL.ARCH = "vit"
    cfg.MODEL.NUM_CLASSES = 400
    cfg.MODEL.DROP_PATH = 0.1
    cfg.MODEL.DROPOUT = 0.0
    cfg.MODEL.HEAD_INIT_SCALE = 1.0
    # Classification pooling: "mean" or "cls".
    cfg.MODEL.POOL = "mean"
    cfg.MODEL.FC_NORM = True
    # Activation checkpointing of encoder blocks.
    cfg.MODEL.ACT_CHECKPOINT = False
    # Loss for classification: "cross_entropy" or "soft_cross_entropy" (Mixup/label smoothing).
    cfg.MODEL.LOSS = "cross_entropy"
    cfg.MODEL.LABEL_SMOOTHING = 0.0
    # Decoder of MAE objectives.
    cfg.MODEL.DECODER_DIM = 384
    cfg.MODEL.DECODER_DEPTH = 4
    cfg.MODEL.DECODER_HEADS = 6
    # Decoder layout. VideoMAE: fixed sin-cos positions, q/v biases, no projection bias, no
    # cls token. MAE-ST (mae_st MaskedAutoencoderViT): "learned_sep" (learned spatial +
    # temporal + class tables), "fused" q/k/v biases, DECODER_PROJ_BIAS and DECODER_CLS True.
    # "learned" is one joint learned table.
    cfg.MODEL.DECODER_POS = "sincos"
    cfg.MODEL.DECODER_QKV_BIAS = "qv"
    cfg.MODEL.DECODER_PROJ_BIAS = False
    cfg.MODEL.DECODER_CLS = False
