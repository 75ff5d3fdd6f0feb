"""Builders: the only place in `models/` that reads the config."""

from __future__ import annotations

import functools
import logging

import torch
from fvcore.common.config import CfgNode
from torch import nn

from ..masking import DECODE_STREAM, build_masker, clip_generators, draw_running_cell_masks
from ..targets import build_targets
from .decoder import MAEDecoder
from .heads import ClassificationHead, MaskFeatHead
from .normalize import Normalize
from .objectives import MAE, Classifier, MaskFeat
from .registry import ENCODERS, OBJECTIVES

logger = logging.getLogger(__name__)


def build_encoder(
    cfg: CfgNode, *, mask_token: bool = False, final_norm: bool = True, pool_last_stage: bool = True
) -> nn.Module:
    """The MODEL.ARCH encoder with the switches its objective needs (the objective builders pass
    them; no encoder reads the objective's name): `mask_token` (MaskFeat substitutes masked
    tokens), `final_norm` (False: the head normalises pooled features instead) and
    `pool_last_stage` (False: keep the last stage's resolution, MaskFeat's dense output)."""
    if cfg.MODEL.ARCH not in ENCODERS:
        raise KeyError(
            f"MODEL.ARCH='{cfg.MODEL.ARCH}' is not a known encoder family; "
            f"choose one of {sorted(k for k, _ in ENCODERS)}."
        )
    return ENCODERS.get(cfg.MODEL.ARCH)(
        cfg, mask_token=mask_token, final_norm=final_norm, pool_last_stage=pool_last_stage
    )


def build_normalize(cfg: CfgNode) -> Normalize:
    """The objective's clip normalisation, from DATA.MEAN / DATA.STD (their one definition)."""
    return Normalize(cfg.DATA.MEAN, cfg.DATA.STD)


def build_model(cfg: CfgNode) -> nn.Module:
    """The objective named by MODEL.OBJECTIVE, with its encoder, head/decoder and targets."""
    return OBJECTIVES.get(_objective(cfg))(cfg)


def _objective(cfg: CfgNode) -> str:
    """MODEL.OBJECTIVE, checked against the registry and the encoders its entry supports."""
    if cfg.MODEL.OBJECTIVE not in OBJECTIVES:
        raise KeyError(
            f"MODEL.OBJECTIVE='{cfg.MODEL.OBJECTIVE}' is unknown; "
            f"choose one of {sorted(k for k, _ in OBJECTIVES)}."
        )
    encoders = OBJECTIVES.spec(cfg.MODEL.OBJECTIVE).get("encoders")
    if encoders is not None and cfg.MODEL.ARCH not in encoders:
        raise ValueError(
            f"MODEL.OBJECTIVE='{cfg.MODEL.OBJECTIVE}' runs on MODEL.ARCH {list(encoders)}, "
            f"not '{cfg.MODEL.ARCH}'."
        )
    return cfg.MODEL.OBJECTIVE


def objective_evaluator(cfg: CfgNode) -> str | None:
    """The engine evaluator (an EVALUATORS name) that MODEL.OBJECTIVE's registry entry names;
    None for objectives without predictions (pretraining)."""
    return OBJECTIVES.spec(_objective(cfg)).get("evaluator")


def log_model_report(cfg: CfgNode, model: nn.Module) -> None:
    """Log parameters and GFLOPs per view of the encoder (counted on the meta device)."""
    from .flops import count_gflops

    T, H, W = cfg.DATA.NUM_FRAMES, cfg.DATA.TEST_CROP_SIZE, cfg.DATA.TEST_CROP_SIZE
    params = sum(p.numel() for p in model.parameters()) / 1e6
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6
    try:
        with torch.device("meta"):
            encoder = build_model(cfg).encoder  # with the objective's switches
        gflops = f"{count_gflops(encoder, (1, 3, T, H, W), device='meta'):.1f}"
    except Exception as e:  # fvcore cannot trace some ops on meta (e.g. padded Conv3d)
        logger.debug("FLOP count failed: %s", e)
        gflops = "n/a (see tools/benchmark.py model)"
    logger.info(
        "Model %s/%s: %.2fM parameters (%.2fM trainable); encoder %s GFLOPs per %dx%dx%d view",
        cfg.MODEL.OBJECTIVE,
        cfg.MODEL.ARCH,
        params,
        trainable,
        gflops,
        T,
        H,
        W,
    )


def _input_shape(cfg: CfgNode) -> tuple[int, int, int]:
    size = cfg.DATA.TRAIN_CROP_SIZE
    return cfg.DATA.NUM_FRAMES, size, size


@OBJECTIVES.register("maskfeat", evaluator=None)
def build_maskfeat(cfg: CfgNode) -> nn.Module:
    encoder = build_encoder(cfg, mask_token=True, pool_last_stage=False)
    targets = build_targets(cfg, patch_size=encoder.patch_size)
    head = MaskFeatHead(encoder.embed_dim, {name: t.dim for name, (t, _) in targets.items()})
    return MaskFeat(
        encoder=encoder,
        head=head,
        targets=targets,
        masker=build_masker(cfg),
        normalize=build_normalize(cfg),
    )


# MAE encodes only the visible tokens: an encoder that pools its token grid (MViTv2) cannot
# drop tokens before pooling, so MAE runs on ViT (MaskFeat is the MViT pretraining objective).
@OBJECTIVES.register("mae", evaluator=None, encoders=("vit",))
def build_mae(cfg: CfgNode) -> nn.Module:
    encoder = build_encoder(cfg)
    targets = build_targets(cfg, patch_size=encoder.patch_size)
    if len(targets) != 1:
        raise ValueError("MAE predicts one target: set TARGET.NAMES to ['pixel'].")
    ((target, _),) = targets.values()
    decoder = MAEDecoder(
        grid=encoder.output_grid(*_input_shape(cfg)),
        encoder_dim=encoder.embed_dim,
        decoder_dim=cfg.MODEL.DECODER_DIM,
        depth=cfg.MODEL.DECODER_DEPTH,
        num_heads=cfg.MODEL.DECODER_HEADS,
        out_dim=target.dim,
        pos_embed=cfg.MODEL.DECODER_POS,
        qkv_bias=cfg.MODEL.DECODER_QKV_BIAS,
        proj_bias=cfg.MODEL.DECODER_PROJ_BIAS,
        cls_token=cfg.MODEL.DECODER_CLS,
    )
    decoder_masker = None
    if cfg.MASK.DECODER_TYPE == "running_cell":
        decoder_masker = functools.partial(running_cell_decode_mask, ratio=cfg.MASK.DECODER_RATIO)
    elif cfg.MASK.DECODER_TYPE:
        raise ValueError(f"MASK.DECODER_TYPE='{cfg.MASK.DECODER_TYPE}': use '' or 'running_cell'.")
    return MAE(
        encoder=encoder,
        decoder=decoder,
        target=target,
        masker=build_masker(cfg),
        normalize=build_normalize(cfg),
        decoder_masker=decoder_masker,
    )


def running_cell_decode_mask(
    mask: torch.Tensor, grid: tuple[int, int, int], seeds: list[int], *, ratio: float
) -> torch.Tensor:
    """VideoMAE v2 decoder masking: [B,N] bool, True = the decoder predicts this token.

    As VideoMAE v2 defines it, the decode set is the running-cell pattern alone (one of its
    4 phases at random per sample), whatever the encoder mask: N x (1 - int(4*ratio)/4)
    tokens, some of them visible to the encoder. Those are decoded too (a mask token each)
    but carry no loss (`MAE.forward` weights the loss by `mask` at the decoded positions).
    Each clip's phase comes from its own generator, seeded from its sample seed (`seeds`).
    """
    gens = clip_generators(seeds, DECODE_STREAM)
    masks = [draw_running_cell_masks(1, grid, ratio, generator=g) for g in gens]
    return torch.cat(masks).flatten(1).to(mask.device)


def build_criterion_and_mixup(cfg: CfgNode):
    """Soft-target cross-entropy with timm's Mixup/CutMix when enabled, else (smoothed) CE."""
    if cfg.TRAIN.MIXUP > 0 or cfg.TRAIN.CUTMIX > 0:
        from timm.data import Mixup
        from timm.loss import SoftTargetCrossEntropy

        mixup = Mixup(
            mixup_alpha=cfg.TRAIN.MIXUP,
            cutmix_alpha=cfg.TRAIN.CUTMIX,
            label_smoothing=cfg.MODEL.LABEL_SMOOTHING,
            num_classes=cfg.MODEL.NUM_CLASSES,
        )
        return SoftTargetCrossEntropy(), mixup
    return nn.CrossEntropyLoss(label_smoothing=cfg.MODEL.LABEL_SMOOTHING), None


@OBJECTIVES.register("classification", evaluator="ClassificationEvaluator")
def build_classifier(cfg: CfgNode) -> nn.Module:
    # VideoMAE/MAE ViT fine-tuning: mean pooling + fc_norm replaces the encoder's final norm.
    # The MViT recipes (PySlowFast lineage) keep theirs, which their checkpoints carry.
    pooled_fc_norm = cfg.MODEL.POOL == "mean" and cfg.MODEL.FC_NORM and cfg.MODEL.ARCH == "vit"
    encoder = build_encoder(cfg, final_norm=not pooled_fc_norm)
    head = ClassificationHead(
        encoder.embed_dim,
        cfg.MODEL.NUM_CLASSES,
        pool=cfg.MODEL.POOL,
        num_prefix_tokens=encoder.num_prefix_tokens,
        fc_norm=cfg.MODEL.FC_NORM,
        dropout=cfg.MODEL.DROPOUT,
        init_scale=cfg.MODEL.HEAD_INIT_SCALE,
    )
    criterion, mixup = build_criterion_and_mixup(cfg)
    return Classifier(
        encoder=encoder,
        head=head,
        criterion=criterion,
        normalize=build_normalize(cfg),
        mixup=mixup,
    )


# Objectives defined in their own modules register themselves on import.
from . import ava_objective, linear_probe  # noqa: E402, F401
