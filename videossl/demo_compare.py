"""The built-in demo comparison (`tools/demo.py`): pretraining vs scratch when labels are scarce.

MaskFeat and MAE pretrain once on the unlabeled pool; then, for every seed, each arm fine-tunes
on the few labeled clips with the same recipe, budget and seed (scratch starts from random
weights; the linear probe trains a linear layer on the frozen MaskFeat encoder). Every job runs
through the public job entry point (`videossl.cli.load_checked` / `run_config`) with the
configs in configs/demo/. Ends with a table (top-1 mean ± std over seeds) and a PNG.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import time
from dataclasses import dataclass, field

from .cli import load_checked, run_config
from .data.demo import CLASSES, DEMO_SIZES, write_demo_dataset
from .logs import format_duration, setup_logging

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One run: a demo config, its folder name, extra overrides and its relative cost."""

    name: str
    config: str
    opts: tuple[str, ...] = ()
    cost: float = 1.0  # clips seen, for the ETA
    kind: str = "finetune"  # jobs of one kind share their measured seconds per clip (ETA)


@dataclass(frozen=True)
class Arm:
    """A row of the table: the job config and the pretraining run it starts from ('' = none)."""

    label: str
    config: str
    pretrain: str = ""


ARMS = (
    Arm("MaskFeat -> fine-tune", "finetune.yaml", "pretrain_maskfeat"),
    Arm("MAE -> fine-tune", "finetune.yaml", "pretrain_mae"),
    Arm("scratch (no pretraining)", "finetune.yaml"),
    Arm("MaskFeat -> linear probe", "linear_probe.yaml", "pretrain_maskfeat"),
)
PRETRAIN = {"pretrain_maskfeat": "pretrain_maskfeat.yaml", "pretrain_mae": "pretrain_mae.yaml"}


@dataclass
class DemoPlan:
    """What the comparison runs: data size, seeds, epochs, where."""

    config_dir: str
    data_dir: str = "demo_data"
    output_dir: str = "output/demo_compare"
    seeds: tuple[int, ...] = (0, 1, 2)
    pool_per_class: int = DEMO_SIZES["num_pool_per_class"]
    train_per_class: int = DEMO_SIZES["num_train_per_class"]
    val_per_class: int = DEMO_SIZES["num_val_per_class"]
    test_per_class: int = DEMO_SIZES["num_test_per_class"]
    size: int = DEMO_SIZES["size"][0]
    num_frames: int = DEMO_SIZES["num_frames"]
    pretrain_epochs: int | None = None  # None: the pretraining configs' own
    finetune_epochs: int | None = None  # None: the fine-tuning configs' own
    probe: bool = True
    opts: tuple[str, ...] = field(default_factory=tuple)  # extra overrides for every job

    def counts(self) -> dict[str, int]:
        n = len(CLASSES)
        return {
            "pool": (self.pool_per_class + self.train_per_class) * n,
            "train": self.train_per_class * n,
            "val": self.val_per_class * n,
            "test": self.test_per_class * n,
        }

    def arms(self) -> tuple[Arm, ...]:
        return ARMS if self.probe else ARMS[:3]


def prepare_data(plan: DemoPlan) -> dict:
    """Write the demo data (unless present); the first log line says what happens."""
    c = plan.counts()
    total = c["pool"] - c["train"] + c["train"] + c["val"] + c["test"]
    lists = [os.path.join(plan.data_dir, f"{s}.csv") for s in ("train", "val", "test")]
    lists.append(os.path.join(plan.data_dir, "unlabeled", "train.csv"))
    exists = all(map(os.path.isfile, lists))
    what = "Using the demo data in" if exists else "Generating the demo data in"
    logger.info(
        "[demo] %s %s: %d clips of %dx%dx%d (%d unlabeled for pretraining incl. the %d labeled "
        "for fine-tuning, %d val, %d test; %d classes)",
        what,
        plan.data_dir,
        total,
        plan.num_frames,
        plan.size,
        plan.size,
        c["pool"],
        c["train"],
        c["val"],
        c["test"],
        len(CLASSES),
    )
    if not exists:
        write_demo_dataset(
            plan.data_dir,
            num_train_per_class=plan.train_per_class,
            num_val_per_class=plan.val_per_class,
            num_test_per_class=plan.test_per_class,
            num_pool_per_class=plan.pool_per_class,
            size=(plan.size, plan.size),
            num_frames=plan.num_frames,
        )
    return c


def plan_jobs(plan: DemoPlan) -> list[Job]:
    """The pretraining jobs, then every arm for every seed."""
    c = plan.counts()
    needed = {a.pretrain for a in plan.arms() if a.pretrain}
    jobs = []
    for name, config in PRETRAIN.items():
        if name in needed:
            opts = ("DATA.PATH_TO_DATA_DIR", os.path.join(plan.data_dir, "unlabeled"))
            opts += ("RNG_SEED", "0")
            if plan.pretrain_epochs:
                opts += ("SOLVER.MAX_EPOCH", str(plan.pretrain_epochs))
            epochs = plan.pretrain_epochs or _epochs(os.path.join(plan.config_dir, config))
            jobs.append(Job(name, config, opts, cost=2.0 * c["pool"] * epochs, kind="pretrain"))
    for seed in plan.seeds:
        for arm in plan.arms():
            init = os.path.join(plan.output_dir, arm.pretrain) if arm.pretrain else ""
            opts = ("DATA.PATH_TO_DATA_DIR", plan.data_dir, "TRAIN.CHECKPOINT_FILE_PATH", init)
            opts += ("RNG_SEED", str(seed))
            if plan.finetune_epochs:
                opts += ("SOLVER.MAX_EPOCH", str(plan.finetune_epochs))
            epochs = plan.finetune_epochs or _epochs(os.path.join(plan.config_dir, arm.config))
            cost = (c["train"] + c["val"] / 5) * epochs + c["test"]
            jobs.append(Job(f"{_slug(arm.label)}_seed{seed}", arm.config, opts, cost=cost))
    return jobs


def _epochs(path: str) -> int:
    """SOLVER.MAX_EPOCH of a config file (for the ETA's cost of its job)."""
    from .config import load_config

    return int(load_config([path]).SOLVER.MAX_EPOCH)


def _slug(label: str) -> str:
    return label.split(" (")[0].replace(" -> ", "_").replace(" ", "_").lower()


def _eta(remaining: list[Job], finished: list[tuple[Job, float]]) -> str:
    """Time left: each remaining job's cost at the seconds per unit of cost measured on the
    finished jobs of its kind (pretraining, fine-tuning), or of all finished jobs until one of
    its kind has run. "?" before any job has finished."""
    if not finished:
        return "?"

    def rate(runs: list[tuple[Job, float]]) -> float:
        return sum(s for _, s in runs) / max(sum(j.cost for j, _ in runs), 1e-9)

    overall = rate(finished)
    kinds = {j.kind: rate([r for r in finished if r[0].kind == j.kind]) for j, _ in finished}
    return format_duration(sum(j.cost * kinds.get(j.kind, overall) for j in remaining))


def run_jobs(plan: DemoPlan, jobs: list[Job]) -> dict[str, float]:
    """Run the jobs in order; returns the test top-1 of each fine-tuning job by name."""
    finished, start, top1 = [], time.perf_counter(), {}
    for k, job in enumerate(jobs, 1):
        out = os.path.join(plan.output_dir, job.name)
        logger.info(
            "[demo] job %d/%d: %s (%s) -> %s; elapsed %s, ETA %s",
            k,
            len(jobs),
            job.name,
            job.config,
            out,
            format_duration(time.perf_counter() - start),
            _eta(jobs[k - 1 :], finished),
        )
        began = time.perf_counter()
        path = os.path.join(plan.config_dir, job.config)
        cfg = load_checked(path, [*job.opts, *plan.opts, "OUTPUT_DIR", out])
        results = run_config(cfg) or {}
        setup_logging(plan.output_dir)  # back to the demo's own log.txt
        tests = results.get("test") or {}
        if tests:
            top1[job.name] = float(next(iter(tests.values()))["top1"])
        finished.append((job, time.perf_counter() - began))
        logger.info(
            "[demo] job %d/%d done%s; elapsed %s, ETA %s",
            k,
            len(jobs),
            f": test top-1 {top1[job.name]:.1f}%" if job.name in top1 else "",
            format_duration(time.perf_counter() - start),
            _eta(jobs[k:], finished),
        )
    return top1


def summarize(plan: DemoPlan, top1: dict[str, float]) -> list[dict]:
    """One row per arm: per-seed top-1, mean and standard deviation (n-1) over seeds."""
    rows = []
    for arm in plan.arms():
        values = [top1[f"{_slug(arm.label)}_seed{s}"] for s in plan.seeds]
        std = statistics.stdev(values) if len(values) > 1 else math.nan
        row = {"arm": arm.label, "runs": [_slug(arm.label) + f"_seed{s}" for s in plan.seeds]}
        rows.append({**row, "top1": values, "mean": statistics.fmean(values), "std": std})
    return rows


def format_table(rows: list[dict], seeds: tuple[int, ...], chance: float) -> str:
    """A Markdown table: arm, mean ± std, then one column per seed."""
    head = "| arm | top-1 (%) | " + " | ".join(f"seed {s}" for s in seeds) + " |"
    lines = [head, "|" + "---|" * (2 + len(seeds))]
    for r in rows:
        spread = "" if math.isnan(r["std"]) else f" ± {r['std']:.1f}"
        per_seed = " | ".join(f"{v:.1f}" for v in r["top1"])
        lines.append(f"| {r['arm']} | {r['mean']:.1f}{spread} | {per_seed} |")
    lines.append(f"\nChance: {chance:.1f}% ({len(CLASSES)} classes).")
    return "\n".join(lines)


def run_demo(plan: DemoPlan) -> dict:
    """Data, jobs, table (results.md / results.json) and PNG (demo.png) in plan.output_dir."""
    from .plotting import plot_demo

    os.makedirs(plan.output_dir, exist_ok=True)
    setup_logging(plan.output_dir)
    start = time.perf_counter()
    cpu = time.process_time()
    prepare_data(plan)
    jobs = plan_jobs(plan)
    top1 = run_jobs(plan, jobs)
    rows = summarize(plan, top1)
    table = format_table(rows, plan.seeds, 100.0 / len(CLASSES))
    png = plot_demo(
        plan.output_dir,
        rows,
        pretrain_runs=[j.name for j in jobs if j.name in PRETRAIN],
        chance=100.0 / len(CLASSES),
        out=os.path.join(plan.output_dir, "demo.png"),
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    summary = {"rows": rows, "table": table, "png": png, "wall_s": wall, "cpu_s": cpu}
    with open(os.path.join(plan.output_dir, "results.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(plan.output_dir, "results.md"), "w") as f:
        f.write(table + "\n")
    logger.info(
        "[demo] done in %s (CPU %s): %s\n%s",
        format_duration(wall),
        format_duration(cpu),
        png,
        table,
    )
    return summary
