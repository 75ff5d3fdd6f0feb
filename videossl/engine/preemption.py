"""Saving on pre-emption at a consistent point.

The trainer registers a saver; `save_now()` (called from a Slurm/submitit signal handler)
runs it. Signals are held while the trainer updates weights, optimiser and counters, so a
handler always sees the state as of the last completed optimiser step.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Callable, Iterator

logger = logging.getLogger(__name__)

_saver: Callable[[], str | None] | None = None
_DEFERRED = (
    {signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM} if hasattr(signal, "SIGUSR1") else set()
)


def register(saver: Callable[[], str | None] | None) -> None:
    """Set (or clear, with None) the function that checkpoints the running trainer."""
    global _saver
    _saver = saver


def save_now() -> str | None:
    """Checkpoint the running trainer; returns the path written (None without a trainer)."""
    if _saver is None:
        logger.warning("Pre-emption save requested but no trainer is running.")
        return None
    path = _saver()
    logger.info("Pre-emption checkpoint written: %s", path)
    return path


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold pre-emption signals until the block ends, then deliver them.

    Python runs signal handlers in the main thread between bytecodes; inside the block a
    recording handler stands in, and the signals it saw are raised again on exit. Outside the
    main thread this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread() or not _DEFERRED:
        yield
        return
    seen: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in _DEFERRED}
    previous = {sig: h for sig, h in previous.items() if h is not None}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: seen.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(seen):
            signal.raise_signal(sig)
