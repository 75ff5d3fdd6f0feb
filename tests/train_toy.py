"""Train the toy objective with the real Trainer; run directly or under torchrun.

usage: train_toy.py OUT_DIR GLOBAL_BATCH ACCUM EPOCHS [CKPT_ITER_PERIOD]
Writes OUT_DIR/final.pt (rank 0) with the final weights.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from toy import NoisyDataset, ToyObjective  # noqa: E402

from videossl.data.loader import make_loader  # noqa: E402
from videossl.distributed import (  # noqa: E402
    cleanup,
    get_rank,
    get_world_size,
    init_distributed,
    is_main_process,
)
from videossl.engine.optim import build_optimizer, build_scheduler  # noqa: E402
from videossl.engine.trainer import Trainer, TrainOptions  # noqa: E402


def _die_during_save(n: int) -> None:
    """Fault injection: the n-th checkpoint write leaves a partial temp file, then SIGKILL."""
    import signal
    import tempfile

    from videossl import checkpoint as ckpt

    real, calls = ckpt.save_atomic, [0]

    def save_atomic(state, path, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            fd, _ = tempfile.mkstemp(prefix=".tmp_", suffix=".pyth", dir=os.path.dirname(path))
            os.write(fd, b"partial checkpoint")
            os.kill(os.getpid(), signal.SIGKILL)
        return real(state, path, **kwargs)

    ckpt.save_atomic = save_atomic


def main() -> None:
    if os.environ.get("TOY_KILL_AT_SAVE"):
        _die_during_save(int(os.environ["TOY_KILL_AT_SAVE"]))
    out, global_batch, accum, epochs = sys.argv[1], *map(int, sys.argv[2:5])
    iter_period = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    init_distributed(backend="gloo", timeout_s=60)
    torch.manual_seed(0)
    model = ToyObjective(dropout=0.0)
    world = get_world_size()
    loader = make_loader(
        NoisyDataset(48),
        batch_size=global_batch // world // accum,
        shuffle=True,
        drop_last=True,
        seed=3,
        rank=get_rank(),
        world_size=world,
    )
    opt = build_optimizer(model, lr=0.05, weight_decay=0.05)
    options = TrainOptions(
        output_dir=out,
        max_epoch=epochs,
        accum_steps=accum,
        checkpoint_iter_period=iter_period,
        checkpoint_keep=2,
        log_period=1,
        seed=1,
    )
    trainer = Trainer(model, opt, None, loader, options, device=torch.device("cpu"))
    trainer.scheduler = build_scheduler(
        opt,
        total_steps=trainer.steps_per_epoch * epochs,
        warmup_steps=2,
        min_lr=1e-4,
        warmup_start_lr=1e-3,
    )
    trainer.resume()
    trainer.train()
    if is_main_process():
        torch.save(model.state_dict(), os.path.join(out, "final.pt"))
    cleanup()


if __name__ == "__main__":
    main()
