"""One job: build from the config, train (resuming), then test. Reads the config."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from fvcore.common.config import CfgNode

from .. import checkpoint as ckpt
from ..config import save_config
from ..data.build import MaskingCollate, build_dataset, collate
from ..data.loader import make_loader
from ..distributed import get_local_rank, get_rank, get_world_size, is_main_process
from ..logs import MetricWriter, setup_logging
from ..masking import build_masker
from ..models.build import build_model, log_model_report
from ..plotting import read_class_names
from .evaluate import run_evaluation
from .evaluators import EVALUATORS
from .guard import LossGuard
from .inputs import ensure_normalised_inputs
from .optim import build_optimizer, build_scheduler, scaled_lr
from .trainer import Trainer, TrainOptions, steps_per_epoch

logger = logging.getLogger(__name__)


def select_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", get_local_rank())
    return torch.device("cpu")


def per_rank_batch(total: int, key: str) -> int:
    world = get_world_size()
    if total % world:
        raise ValueError(
            f"{key}={total} is the global batch and must be divisible by the world size {world}."
        )
    return total // world


def _loader(cfg: CfgNode, dataset, *, train: bool, batch: int):
    collate_fn = collate
    if train and cfg.MASK.IN_LOADER and cfg.MODEL.OBJECTIVE in ("maskfeat", "mae"):
        collate_fn = MaskingCollate(build_masker(cfg))
    return make_loader(
        dataset,
        batch_size=batch,
        shuffle=train,
        drop_last=train,
        num_workers=cfg.DATA.NUM_WORKERS,
        pin_memory=cfg.DATA.PIN_MEMORY,
        seed=cfg.RNG_SEED,
        rank=get_rank(),
        world_size=get_world_size(),
        collate_fn=collate_fn,
    )


def load_initial_weights(cfg: CfgNode, model: torch.nn.Module) -> None:
    """Fine-tuning: load TRAIN.CHECKPOINT_FILE_PATH into the encoder (any supported layout)."""
    from ..pretrained import load_pretrained

    path = ckpt.resolve(cfg.TRAIN.CHECKPOINT_FILE_PATH)
    logger.info("Initialising from %s", path)
    load_pretrained(model, path, allow_mismatch=cfg.TRAIN.CHECKPOINT_ALLOW_MISMATCH)


def _end_lr(cfg: CfgNode, rate: float, clips: int) -> float:
    """MIN_LR / WARMUP_START_LR: absolute, or per REFERENCE_BATCH with SOLVER.SCALE_MIN_LR."""
    if cfg.SOLVER.SCALE_MIN_LR:
        return scaled_lr(rate, clips, cfg.SOLVER.REFERENCE_BATCH)
    return rate


def train(cfg: CfgNode, model: torch.nn.Module, device: torch.device) -> dict[str, float]:
    batch = per_rank_batch(cfg.TRAIN.BATCH_SIZE, "TRAIN.BATCH_SIZE")
    dataset = build_dataset(cfg, "train")
    loader = _loader(cfg, dataset, train=True, batch=batch)
    resuming = cfg.TRAIN.AUTO_RESUME and ckpt.newest_complete(ckpt.checkpoint_dir(cfg.OUTPUT_DIR))
    if cfg.TRAIN.CHECKPOINT_FILE_PATH and not resuming:
        load_initial_weights(cfg, model)
    clips = cfg.TRAIN.BATCH_SIZE * cfg.SOLVER.ACCUM_STEPS * cfg.DATA.NUM_REPEATED_SAMPLES
    lr = scaled_lr(cfg.SOLVER.BASE_LR, clips, cfg.SOLVER.REFERENCE_BATCH)
    logger.info(
        "Global batch %d clips per optimiser step; learning rate %.3g (%.3g per %d clips)",
        clips,
        lr,
        cfg.SOLVER.BASE_LR,
        cfg.SOLVER.REFERENCE_BATCH,
    )
    optimizer = build_optimizer(
        model,
        lr=lr,
        weight_decay=cfg.SOLVER.WEIGHT_DECAY,
        name=cfg.SOLVER.OPTIMIZER,
        betas=tuple(cfg.SOLVER.BETAS),
        momentum=cfg.SOLVER.MOMENTUM,
        layer_decay=cfg.SOLVER.LAYER_DECAY,
        fused=cfg.SOLVER.FUSED,
    )
    options = TrainOptions(
        output_dir=cfg.OUTPUT_DIR,
        max_epoch=cfg.SOLVER.MAX_EPOCH,
        accum_steps=cfg.SOLVER.ACCUM_STEPS,
        clip_grad=cfg.SOLVER.CLIP_GRAD,
        amp=cfg.TRAIN.AMP,
        ema_decay=cfg.TRAIN.EMA,
        checkpoint_period=cfg.TRAIN.CHECKPOINT_PERIOD,
        checkpoint_iter_period=cfg.TRAIN.CHECKPOINT_ITER_PERIOD,
        checkpoint_keep=cfg.TRAIN.CHECKPOINT_KEEP,
        log_period=cfg.LOG.PERIOD,
        seed=cfg.RNG_SEED,
        max_iters_per_epoch=cfg.TRAIN.MAX_ITERS_PER_EPOCH,
        eval_period=cfg.TRAIN.EVAL_PERIOD,
        config_yaml=cfg.dump(),
    )
    steps = steps_per_epoch(loader, options.accum_steps, options.max_iters_per_epoch)
    scheduler = build_scheduler(
        optimizer,
        total_steps=steps * cfg.SOLVER.MAX_EPOCH,
        warmup_steps=int(round(cfg.SOLVER.WARMUP_EPOCHS * steps)),
        min_lr=_end_lr(cfg, cfg.SOLVER.MIN_LR, clips),
        warmup_start_lr=_end_lr(cfg, cfg.SOLVER.WARMUP_START_LR, clips),
    )
    trainer = Trainer(
        model,
        optimizer,
        scheduler,
        loader,
        options,
        device=device,
        guard=LossGuard(
            factor=cfg.TRAIN.LOSS_GUARD_FACTOR,
            window=cfg.TRAIN.LOSS_GUARD_WINDOW,
            max_rollbacks=cfg.TRAIN.LOSS_GUARD_MAX_ROLLBACKS,
            abs_max=cfg.TRAIN.LOSS_GUARD_ABS_MAX,
            grad_factor=cfg.TRAIN.LOSS_GUARD_GRAD_FACTOR,
            action=cfg.TRAIN.LOSS_GUARD_ACTION,
            lr_factor=cfg.TRAIN.LOSS_GUARD_LR_FACTOR,
        ),
        metrics=MetricWriter(cfg.OUTPUT_DIR, tensorboard=cfg.LOG.TENSORBOARD),
        eval_fn=periodic_evaluation(cfg, model, device),
    )
    if cfg.TRAIN.AUTO_RESUME:
        trainer.resume()
    return trainer.train()


def _test_cfg(cfg: CfgNode, views: int) -> CfgNode:
    out = cfg.clone()
    out.defrost()
    out.TEST.NUM_ENSEMBLE_VIEWS = views
    out.freeze()
    return out


def build_evaluator(cfg: CfgNode, model: torch.nn.Module, dataset, tag: str):
    name = getattr(model, "evaluator", "classification")
    if name == "classification":
        return EVALUATORS.get("ClassificationEvaluator")(
            dataset=dataset,
            output_dir=cfg.OUTPUT_DIR,
            ensemble=cfg.TEST.ENSEMBLE_METHOD,
            save_predictions=cfg.TEST.SAVE_PREDICTIONS,
            tag=tag,
            class_names=read_class_names(cfg.DATA.PATH_TO_DATA_DIR),
        )
    return EVALUATORS.get(name)(cfg, dataset)


def periodic_evaluation(cfg: CfgNode, model: torch.nn.Module, device: torch.device):
    """The Trainer's ``eval_fn`` for TRAIN.EVAL_PERIOD > 0 (None when off, or with a warning
    for objectives that cannot predict, e.g. pretraining)."""
    if cfg.TRAIN.EVAL_PERIOD <= 0:
        return None
    if not hasattr(model, "predict"):
        logger.warning(
            "TRAIN.EVAL_PERIOD=%d but %s has no predict(): no periodic evaluation.",
            cfg.TRAIN.EVAL_PERIOD,
            type(model).__name__,
        )
        return None
    return PeriodicEvaluation(cfg, model, device)


class PeriodicEvaluation:
    """``eval_fn`` of the Trainer (TRAIN.EVAL_PERIOD): evaluate the val split, return metrics.

    The val loader is built on the first call and kept (its workers persist); every rank runs
    it and the evaluator gathers across ranks. Predictions are not saved (TEST.* writes those)."""

    def __init__(self, cfg: CfgNode, model: torch.nn.Module, device: torch.device) -> None:
        self.cfg = cfg.clone()
        self.cfg.defrost()
        self.cfg.TEST.SAVE_PREDICTIONS = False
        self.cfg.freeze()
        self.model, self.device = model, device
        self.loader = None
        self.dataset = None

    def __call__(self, epoch: int) -> dict[str, float]:
        if self.loader is None:
            batch = per_rank_batch(self.cfg.TEST.BATCH_SIZE, "TEST.BATCH_SIZE")
            self.dataset = build_dataset(self.cfg, "val")
            self.loader = _loader(self.cfg, self.dataset, train=False, batch=batch)
        evaluator = build_evaluator(self.cfg, self.model, self.dataset, "val")
        return run_evaluation(
            self.model, self.loader, evaluator, device=self.device, amp=self.cfg.TRAIN.AMP
        )


def test(cfg: CfgNode, model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
    if cfg.TEST.CHECKPOINT_FILE_PATH:
        path = ckpt.resolve(cfg.TEST.CHECKPOINT_FILE_PATH)
        model.load_state_dict(ckpt.load(path)["model"])
        logger.info("Testing weights from %s", path)
    elif not cfg.TRAIN.ENABLE:
        path = ckpt.resolve(cfg.OUTPUT_DIR)
        model.load_state_dict(ckpt.load(path)["model"])
        logger.info("Testing the newest checkpoint of this run: %s", path)
    batch = per_rank_batch(cfg.TEST.BATCH_SIZE, "TEST.BATCH_SIZE")
    results: dict[str, Any] = {}
    metrics = MetricWriter(cfg.OUTPUT_DIR)
    sweep = [cfg.TEST.NUM_ENSEMBLE_VIEWS] + [v for v in cfg.TEST.VIEW_SWEEP]
    for views in dict.fromkeys(sweep):
        vcfg = _test_cfg(cfg, views)
        dataset = build_dataset(vcfg, "test")
        loader = _loader(vcfg, dataset, train=False, batch=batch)
        tag = f"test_{views}x{cfg.TEST.NUM_SPATIAL_CROPS}"
        evaluator = build_evaluator(vcfg, model, dataset, tag)
        res = run_evaluation(model, loader, evaluator, device=device, amp=cfg.TRAIN.AMP)
        metrics.write({"phase": "test", "views": f"{views}x{cfg.TEST.NUM_SPATIAL_CROPS}", **res})
        logger.info("Test %s: %s", tag, " ".join(f"{k} {v:.4g}" for k, v in res.items()))
        results[tag] = res
    return results


def run_job(cfg: CfgNode) -> dict[str, Any]:
    """Train (if TRAIN.ENABLE, resuming from OUTPUT_DIR) then test (if TEST.ENABLE)."""
    setup_logging(cfg.OUTPUT_DIR)
    if is_main_process():
        os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
        save_config(cfg, os.path.join(cfg.OUTPUT_DIR, "config.yaml"))
    torch.manual_seed(cfg.RNG_SEED)
    device = select_device()
    model = build_model(cfg)
    if is_main_process():
        log_model_report(cfg, model)
    if cfg.TRAIN.COMPILE:
        model.encoder.compile()
    model = model.to(device)
    ensure_normalised_inputs(model, cfg.DATA.MEAN, cfg.DATA.STD)  # interim: see engine/inputs.py
    results: dict[str, Any] = {}
    if cfg.TRAIN.ENABLE:
        results["train"] = train(cfg, model, device)
    if cfg.TEST.ENABLE:
        results["test"] = test(cfg, model, device)
    return results
