"""The training loop: AMP, gradient accumulation, clipping, EMA, checkpoints, exact resume.

The trainer knows nothing about objectives: the model's forward takes a batch dict and
returns a dict of losses; every entry whose key starts with "loss" is summed. Batches reach the
model as the loader made them (uint8 clips), moved to the device: the objective normalises.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from typing import Any, Callable

import torch
from torch.nn.parallel import DistributedDataParallel

from .. import checkpoint as ckpt
from ..data.sampler import _mix
from ..distributed import all_reduce_mean, get_rank, get_world_size, is_main_process
from ..logs import MetricWriter, drop_records_after, format_duration
from . import preemption
from .guard import LossGuard, TrainingDiverged
from .step_utils import (  # noqa: F401  (TrainOptions, steps_per_epoch: this module's API)
    TrainOptions,
    _batch_len,
    _fmt,
    autocast,
    base_lr,
    numeric,
    peak_memory_mb,
    progress_bar,
    snapshot,
    steps_per_epoch,
    to_device,
)

logger = logging.getLogger(__name__)


class Trainer:
    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        loader: torch.utils.data.DataLoader,
        options: TrainOptions,
        *,
        device: torch.device,
        guard: LossGuard | None = None,
        metrics: MetricWriter | None = None,
        eval_fn: Callable[[int], dict] | None = None,
    ) -> None:
        """`scheduler` is built by the caller (its length from `steps_per_epoch`). `eval_fn(epoch)`
        runs every `options.eval_period` epochs and returns flat metrics, which are written as
        one `{"type": "eval", "split": "val", "epoch", "iter", ...}` record of metrics.jsonl
        and as TensorBoard scalars `val/<name>`."""
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.loader = loader
        self.opt = options
        self.device = device
        self.guard = guard or LossGuard()
        self.metrics = metrics or MetricWriter(options.output_dir)
        self.eval_fn = eval_fn
        self.scaler = torch.amp.GradScaler(device.type, enabled=options.amp == "fp16")
        self.ema = None
        if options.ema_decay > 0:
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(model, decay=options.ema_decay)
        self.ddp = model
        if get_world_size() > 1:
            ids = [device.index] if device.type == "cuda" else None
            self.ddp = DistributedDataParallel(
                model,
                device_ids=ids,
                find_unused_parameters=getattr(model, "find_unused_parameters", False),
            )
        self.steps_per_epoch = steps_per_epoch(
            loader, options.accum_steps, options.max_iters_per_epoch
        )
        self.epoch = 0  # completed epochs
        self.step_in_epoch = 0  # optimiser steps completed in the current epoch
        self.global_step = 0
        self.ckpt_dir = ckpt.checkpoint_dir(options.output_dir)
        # Running sums of the current epoch's losses (kept in checkpoints: exact epoch means).
        self._sums: dict[str, float] = {}
        self._count = 0
        self._initial: dict[str, Any] | None = None  # state before step 1, for roll-backs
        self._good_steps = 0  # optimiser steps since the last roll-back
        self._restored_step: int | None = None
        if is_main_process() and os.path.isdir(self.ckpt_dir):
            ckpt.clean_stale_temps(self.ckpt_dir)

    # ---- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "guard": self.guard.state_dict(),
            "epoch_sums": {"sums": dict(self._sums), "count": self._count},
            "world_size": get_world_size(),
            "cfg": self.opt.config_yaml,
        }

    def save_checkpoint(self) -> str | None:
        """Rank 0 writes the state as of the last completed optimiser step."""
        if not is_main_process():
            return None
        path = os.path.join(self.ckpt_dir, ckpt.checkpoint_name(self.epoch, self.step_in_epoch))
        try:
            ckpt.save_atomic(self.state_dict(), path)
        except ckpt.NonFiniteError as e:
            # Never write NaN/inf: roll back to finite weights, then save those instead.
            self.guard.reason = str(e)
            logger.warning("Not saving %s: %s", path, e)
            self._rollback(math.nan)
            try:
                ckpt.save_atomic(self.state_dict(), path)
            except ckpt.NonFiniteError as again:
                raise TrainingDiverged(
                    f"The weights stay non-finite after a roll-back ({again}); nothing was "
                    "saved. Lower SOLVER.BASE_LR or enable SOLVER.CLIP_GRAD."
                ) from None
        ckpt.prune(self.ckpt_dir, self.opt.checkpoint_keep)
        logger.info("Saved checkpoint %s", path)
        return path

    def load_state(self, state: dict[str, Any], *, position: bool = True) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.module.load_state_dict(state["ema"])
        if position:
            self.scheduler.load_state_dict(state["scheduler"])
            self.epoch = state["epoch"]
            self.step_in_epoch = state["step_in_epoch"]
            self.global_step = state["global_step"]
            self.guard.load_state_dict(state.get("guard", {}))
            sums = state.get("epoch_sums") or {}
            self._sums = dict(sums.get("sums", {}))
            self._count = int(sums.get("count", 0))

    def resume(self) -> bool:
        """Continue from the newest complete checkpoint in the output folder, if any."""
        found = ckpt.newest_complete(self.ckpt_dir)
        if found is None:
            return False
        path, state = found
        if state.get("world_size", 1) != get_world_size():
            logger.warning(
                "Resuming %s written with world size %s on world size %s: the data order "
                "after the checkpoint will differ.",
                path,
                state.get("world_size"),
                get_world_size(),
            )
        self.load_state(state)
        if is_main_process():
            drop_records_after(self.metrics.path, self.global_step, self.epoch)
        logger.info(
            "Resumed from %s (epoch %d, step %d of the next epoch)",
            path,
            self.epoch,
            self.step_in_epoch,
        )
        return True

    # ---- the loop ----------------------------------------------------------------------
    def train(self) -> dict[str, float]:
        """Train until `max_epoch` epochs are complete; returns the last epoch's mean losses."""
        preemption.register(self.save_checkpoint)
        summary: dict[str, float] = {}
        if self.global_step == 0 and self._initial is None:
            self._initial = self._snapshot()
        try:
            while self.epoch < self.opt.max_epoch:
                summary = self.train_epoch()
                self.epoch += 1
                self.step_in_epoch = 0
                if self.epoch % self.opt.checkpoint_period == 0 or self.epoch == self.opt.max_epoch:
                    self.save_checkpoint()
                if self.eval_fn and self.opt.eval_period and self.epoch % self.opt.eval_period == 0:
                    self.log_eval(self.eval_fn(self.epoch))
        finally:
            preemption.register(None)
        self.metrics.close()
        return summary

    def _position_loader(self) -> None:
        sampler = self.loader.sampler
        per_step = self.loader.batch_size * self.opt.accum_steps
        sampler.set_epoch(self.epoch, self.step_in_epoch * per_step)

    def train_epoch(self) -> dict[str, float]:
        self.ddp.train()
        self._position_loader()
        accum = self.opt.accum_steps
        if self.step_in_epoch == 0:
            self._sums, self._count = {}, 0
        sums = self._sums
        t_data = time.perf_counter()
        micro = 0
        data_time = 0.0
        t_start = time.perf_counter()
        bar = self._progress_bar()
        for batch in self.loader:
            if self.step_in_epoch >= self.steps_per_epoch:
                break
            data_time += time.perf_counter() - t_data
            micro_index = self.step_in_epoch * accum + micro
            torch.manual_seed(_mix(self.opt.seed, self.epoch, micro_index, get_rank()))
            batch = to_device(batch, self.device)
            losses = self._micro_step(batch, last=micro == accum - 1)
            micro += 1
            if losses is None:  # bad loss: rolled back, skip to the next step
                micro = 0
                self.step_in_epoch += 1
                self.global_step += 1
                self.scheduler.step_update(num_updates=self.global_step)
                self.guard.scale_lr(self.optimizer)
                continue
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
            self._count += 1
            if micro < accum:
                continue
            micro = 0
            log_now = (self.global_step + 1) % self.opt.log_period == 0
            with preemption.deferred_signals():
                # The step, its log line and its checkpoint complete before a pre-emption
                # signal is handled, so a resumed run logs every step exactly once.
                grad_norm = self._optimizer_step(want_norm=log_now)
                if grad_norm is not None:
                    losses["grad_norm"] = grad_norm
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(_fmt({"loss": losses["loss"]}))
                if log_now:
                    self._log(losses, batch, data_time, t_start)
                    data_time, t_start = 0.0, time.perf_counter()
                if self.opt.checkpoint_iter_period and (
                    self.global_step % self.opt.checkpoint_iter_period == 0
                ):
                    self.save_checkpoint()
            t_data = time.perf_counter()
        if bar is not None:
            bar.close()
        summary = {k: v / max(self._count, 1) for k, v in sums.items()}
        failures = getattr(self.loader.dataset, "failure_summary", None)
        if failures is not None and is_main_process():
            summary["skipped_videos"] = float(failures(self.epoch + 1)["failures"])
        self.metrics.write(
            {"phase": "train_epoch", "epoch": self.epoch + 1, **summary}, step=self.global_step
        )
        logger.info("Epoch %d/%d done: %s", self.epoch + 1, self.opt.max_epoch, _fmt(summary))
        return summary

    def _micro_step(self, batch: dict, *, last: bool) -> dict[str, float] | None:
        sync = last or get_world_size() == 1
        ctx = contextlib.nullcontext() if sync else self.ddp.no_sync()
        with ctx:
            with autocast(self.device, self.opt.amp):
                losses = self.ddp(batch)
            total = sum(v for k, v in losses.items() if k.startswith("loss"))
            value = float(all_reduce_mean(total.detach().float()))
            if self.guard.is_bad(value):
                self._rollback(value)
                return None
            self.guard.accept(value)
            self.scaler.scale(total / self.opt.accum_steps).backward()
        out = {k: float(v.detach()) for k, v in losses.items()}
        out["loss"] = value
        return out

    def _progress_bar(self):
        """A tqdm bar with ETA on interactive terminals (rank 0); plain log lines otherwise."""
        desc = f"epoch {self.epoch + 1}/{self.opt.max_epoch}"
        return progress_bar(self.steps_per_epoch, self.step_in_epoch, desc)

    def _optimizer_step(self, *, want_norm: bool = False) -> float | None:
        """Clip, step, update the scaler/EMA/counters/schedule; returns the grad norm if known."""
        norm = None
        if self.opt.clip_grad > 0 or want_norm or self.guard.grad_factor > 0:
            self.scaler.unscale_(self.optimizer)
            max_norm = self.opt.clip_grad if self.opt.clip_grad > 0 else math.inf
            norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm))
        if norm is not None and self.guard.grad_is_bad(norm, scaled=self.scaler.is_enabled()):
            self.optimizer.zero_grad(set_to_none=True)
            self._rollback(norm)  # the batch is skipped
            self.scaler.update()
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            if self.ema is not None:
                self.ema.update(self.model, step=self.global_step)
            self._good_steps += 1
        self.step_in_epoch += 1
        self.global_step += 1
        self.scheduler.step_update(num_updates=self.global_step)
        self.guard.scale_lr(self.optimizer)
        return norm

    def _snapshot(self) -> dict[str, Any]:
        """A CPU copy of the weights, optimiser, scaler and EMA (the start of a fresh run)."""
        ema = self.ema.module if self.ema is not None else None
        return snapshot(self.model, self.optimizer, self.scaler, ema, self.global_step)

    def _rollback(self, value: float) -> None:
        """Restore the newest finite checkpoint that precedes the divergence (older each time
        a roll-back is followed by no good step), then apply the guard's action."""
        where = f"epoch {self.epoch + 1} step {self.step_in_epoch + 1}"
        self.guard.record_rollback(value, where)
        self.optimizer.zero_grad(set_to_none=True)
        ceiling = self.global_step + 1
        if self._good_steps == 0 and self._restored_step is not None:
            ceiling = min(ceiling, self._restored_step)
        found = ckpt.newest_finite_before(self.ckpt_dir, ceiling)
        if found is None and self._initial is not None and self._initial["global_step"] < ceiling:
            found = ("the initial weights", self._initial)
        self._good_steps = 0
        if found is None:
            logger.warning(
                "Bad value %s at %s (%s); no finite checkpoint before it, skipping the batch.",
                value,
                where,
                self.guard.reason,
            )
            self.guard.after_rollback(self.optimizer)
            return
        self.load_state(found[1], position=False)
        self._restored_step = int(found[1].get("global_step", 0))
        self.guard.after_rollback(self.optimizer)
        logger.warning(
            "Bad value %s at %s (%s): rolled back the weights to %s and skipped ahead; "
            "action %s, learning-rate scale %g (%d/%d).",
            value,
            where,
            self.guard.reason,
            found[0],
            self.guard.action,
            self.guard.lr_scale,
            self.guard.rollbacks,
            self.guard.max_rollbacks,
        )

    def log_eval(self, results: dict[str, Any], split: str = "val") -> dict[str, float]:
        """One metrics.jsonl record and `<split>/<name>` TensorBoard scalars for an evaluation
        after epoch `self.epoch`; non-numeric results are left out."""
        values = numeric(results)
        record = {"type": "eval", "split": split, "epoch": self.epoch, "iter": self.global_step}
        self.metrics.write({**record, **values})
        self.metrics.write_scalars(split, values, step=self.global_step)
        logger.info("Evaluation (%s) after epoch %d: %s", split, self.epoch, _fmt(values))
        return values

    def _log(self, losses: dict[str, float], batch: dict, data_time: float, t_start: float) -> None:
        elapsed = time.perf_counter() - t_start
        clips = _batch_len(batch) * self.opt.log_period * self.opt.accum_steps * get_world_size()
        record = {
            "phase": "train",
            "epoch": self.epoch + 1,
            "iter": self.step_in_epoch,
            "global_step": self.global_step,
            "lr": base_lr(self.optimizer),
            **losses,
            "clips_per_s": clips / max(elapsed, 1e-9),
            "step_time": elapsed / self.opt.log_period,
            "data_time": data_time / self.opt.log_period,
            "memory_mb": peak_memory_mb(self.device),
        }
        left = (self.opt.max_epoch - self.epoch) * self.steps_per_epoch - self.step_in_epoch
        record["eta_s"] = left * record["step_time"]  # training steps only, at this window's pace
        self.metrics.write(record, step=self.global_step)
        logger.info(
            "epoch %d step %d/%d %s lr %.3g %.1f clips/s eta %s",
            self.epoch + 1,
            self.step_in_epoch,
            self.steps_per_epoch,
            _fmt(losses),
            record["lr"],
            record["clips_per_s"],
            format_duration(record["eta_s"]),
        )
