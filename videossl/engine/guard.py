"""Loss guard: flags non-finite or exploding losses and gradients so the trainer can roll back.

Three tests, all active from the first step:

- an absolute bound: a loss above ``abs_max`` (or not finite) is bad at any step;
- a ratio to a robust running statistic: above ``factor`` x the median of the recent good
  losses (one good loss is enough), or, with 8 or more, more than ``8 * factor`` robust
  deviations (MAD) above it;
- the gradient norm: not finite (without fp16 loss scaling), or above ``grad_factor`` x the
  median of the recent good norms.

After a roll-back the trainer applies ``action``: "lower_lr" (scale the learning rate by
``lr_factor``), "skip" (drop the batch) or "stop" (raise TrainingDiverged at once).
"""

from __future__ import annotations

import math
import statistics
from collections import deque

ACTIONS = ("lower_lr", "skip", "stop")
ADVICE = (
    "Lower SOLVER.BASE_LR, enable SOLVER.CLIP_GRAD, or switch TRAIN.AMP to bf16; "
    "raise TRAIN.LOSS_GUARD_MAX_ROLLBACKS to tolerate more."
)


class TrainingDiverged(RuntimeError):
    """Raised when the loss keeps going bad after the allowed number of roll-backs."""


class LossGuard:
    def __init__(
        self,
        *,
        factor: float = 10.0,
        window: int = 50,
        max_rollbacks: int = 3,
        abs_max: float = 1e4,
        grad_factor: float = 100.0,
        action: str = "lower_lr",
        lr_factor: float = 0.5,
    ) -> None:
        if action not in ACTIONS:
            raise ValueError(f"guard action must be one of {ACTIONS}, got {action!r}")
        self.factor = factor
        self.window = max(window, 1)
        self.max_rollbacks = max_rollbacks
        self.abs_max = abs_max
        self.grad_factor = grad_factor
        self.action = action
        self.lr_factor = lr_factor
        self.recent: deque[float] = deque(maxlen=self.window)
        self.recent_norms: deque[float] = deque(maxlen=self.window)
        self.rollbacks = 0
        self.lr_scale = 1.0
        self.reason = ""

    def why_bad(self, loss: float) -> str:
        """ "" when `loss` is fine, else the reason it is not."""
        if not math.isfinite(loss):
            return "not finite"
        if self.abs_max > 0 and abs(loss) > self.abs_max:
            return f"above the absolute bound {self.abs_max:g} (TRAIN.LOSS_GUARD_ABS_MAX)"
        if self.factor > 0 and self.recent:
            median = statistics.median(self.recent)
            if median > 0 and loss > self.factor * median:
                return f"{loss / median:.3g}x the running median {median:.4g}"
            if len(self.recent) >= 8:
                mad = statistics.median(abs(v - median) for v in self.recent)
                if mad > 0 and loss - median > 8 * self.factor * 1.4826 * mad:
                    return f"{(loss - median) / mad:.3g} MADs above the running median"
        return ""

    def is_bad(self, loss: float) -> bool:
        self.reason = self.why_bad(loss)
        return bool(self.reason)

    def accept(self, loss: float) -> None:
        self.recent.append(loss)

    def grad_is_bad(self, norm: float, *, scaled: bool = False) -> bool:
        """Judge a gradient norm (``scaled``: fp16 loss scaling, which handles inf itself)."""
        if not math.isfinite(norm):
            self.reason = "" if scaled else "gradient norm not finite"
            return not scaled
        if self.grad_factor > 0 and len(self.recent_norms) >= 3:
            median = statistics.median(self.recent_norms)
            if median > 0 and norm > self.grad_factor * median:
                self.reason = f"gradient norm {norm:.3g} is {norm / median:.3g}x its median"
                return True
        self.recent_norms.append(norm)
        return False

    def record_rollback(self, loss: float, where: str) -> None:
        """Count a roll-back; raise once more than `max_rollbacks` happened (or at once with
        the "stop" action)."""
        self.rollbacks += 1
        why = f" ({self.reason})" if self.reason else ""
        if self.action == "stop":
            raise TrainingDiverged(
                f"Training diverged at {where}: loss {loss:.4g}{why}. {ADVICE.split(';')[0]}."
            )
        if self.rollbacks > self.max_rollbacks:
            raise TrainingDiverged(
                f"Loss went bad ({loss:.4g}{why}) at {where} after {self.max_rollbacks} "
                f"roll-backs (learning rate scale now {self.lr_scale:g}). {ADVICE}"
            )

    def after_rollback(self, optimizer) -> None:
        """Apply the configured action to the optimiser after a roll-back."""
        if self.action == "lower_lr":
            self.lr_scale *= self.lr_factor
            for group in optimizer.param_groups:
                group["lr"] *= self.lr_factor

    def scale_lr(self, optimizer) -> None:
        """Re-apply the lowered rate after the schedule set the step's rate."""
        if self.lr_scale != 1.0:
            for group in optimizer.param_groups:
                group["lr"] *= self.lr_scale

    def state_dict(self) -> dict:
        return {
            "recent": list(self.recent),
            "recent_norms": list(self.recent_norms),
            "rollbacks": self.rollbacks,
            "lr_scale": self.lr_scale,
        }

    def load_state_dict(self, state: dict) -> None:
        self.recent = deque(state.get("recent", []), maxlen=self.window)
        self.recent_norms = deque(state.get("recent_norms", []), maxlen=self.window)
        self.rollbacks = state.get("rollbacks", 0)
        self.lr_scale = state.get("lr_scale", 1.0)
