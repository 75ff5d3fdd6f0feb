"""Loss guard: flags non-finite or exploding losses so the trainer can roll back."""

from __future__ import annotations

import math
from collections import deque


class TrainingDiverged(RuntimeError):
    """Raised when the loss keeps going bad after the allowed number of roll-backs."""


class LossGuard:
    """Judges each step's loss against the mean of the last `window` good losses.

    A loss is bad when it is not finite, or when at least `window // 2` good losses have been
    seen and it exceeds `factor` x their mean (factor <= 0 disables the explosion test).
    """

    def __init__(self, *, factor: float = 10.0, window: int = 50, max_rollbacks: int = 3) -> None:
        self.factor = factor
        self.window = max(window, 1)
        self.max_rollbacks = max_rollbacks
        self.recent: deque[float] = deque(maxlen=self.window)
        self.rollbacks = 0

    def is_bad(self, loss: float) -> bool:
        if not math.isfinite(loss):
            return True
        if self.factor > 0 and len(self.recent) >= max(self.window // 2, 1):
            mean = sum(self.recent) / len(self.recent)
            if mean > 0 and loss > self.factor * mean:
                return True
        return False

    def accept(self, loss: float) -> None:
        self.recent.append(loss)

    def record_rollback(self, loss: float, where: str) -> None:
        """Count a roll-back; raise once more than `max_rollbacks` happened."""
        self.rollbacks += 1
        if self.rollbacks > self.max_rollbacks:
            raise TrainingDiverged(
                f"Loss went bad ({loss}) at {where} after {self.max_rollbacks} roll-backs. "
                "Lower SOLVER.BASE_LR, enable SOLVER.CLIP_GRAD, or switch TRAIN.AMP to bf16; "
                "raise TRAIN.LOSS_GUARD_MAX_ROLLBACKS to tolerate more."
            )

    def state_dict(self) -> dict:
        return {"recent": list(self.recent), "rollbacks": self.rollbacks}

    def load_state_dict(self, state: dict) -> None:
        self.recent = deque(state.get("recent", []), maxlen=self.window)
        self.rollbacks = state.get("rollbacks", 0)
