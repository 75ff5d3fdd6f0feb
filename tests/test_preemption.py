import os
import signal

from videossl.engine import preemption


def test_save_now_runs_the_registered_saver():
    assert preemption.save_now() is None
    preemption.register(lambda: "/tmp/ckpt.pyth")
    try:
        assert preemption.save_now() == "/tmp/ckpt.pyth"
    finally:
        preemption.register(None)


def test_signals_are_held_until_the_block_ends():
    seen = []
    old = signal.signal(signal.SIGUSR1, lambda s, f: seen.append(("handled", s)))
    try:
        with preemption.deferred_signals():
            os.kill(os.getpid(), signal.SIGUSR1)
            for _ in range(1000):  # give the interpreter chances to run handlers
                pass
            seen.append("end of block")
        assert seen == ["end of block", ("handled", signal.SIGUSR1)]
    finally:
        signal.signal(signal.SIGUSR1, old)
