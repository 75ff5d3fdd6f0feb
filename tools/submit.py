#!/usr/bin/env python
"""Submit a videossl job to Slurm (or run it through submitit's local executor).

    python tools/submit.py --cfg CFG.yaml [--opts KEY VALUE ...] --nodes 2 --gpus-per-node 8 \\
        --partition learn --time 4320

Several --cfg files are layered in order (later files override earlier ones), then --opts.
The config is loaded and validated here, before anything is queued. The job writes everything
to its job directory (`<OUTPUT_DIR>/<job id>` unless --job-dir is given); on pre-emption or the
time limit it checkpoints and requeues itself (see docs/slurm.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from videossl.config import ConfigError, load_config  # noqa: E402

# flag -> config key it sets
LAUNCH_FLAGS = {
    "partition": "LAUNCH.PARTITION",
    "account": "LAUNCH.ACCOUNT",
    "qos": "LAUNCH.QOS",
    "constraint": "LAUNCH.CONSTRAINT",
    "time": "LAUNCH.TIME_MIN",
    "cpus_per_task": "LAUNCH.CPUS_PER_TASK",
    "mem_per_gpu": "LAUNCH.MEM_PER_GPU_GB",
    "comment": "LAUNCH.COMMENT",
    "name": "LAUNCH.NAME",
    "max_requeues": "LAUNCH.MAX_REQUEUES",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="submit.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--cfg", dest="cfg_files", nargs="+", required=True, metavar="FILE")
    p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], metavar="KEY VALUE")
    p.add_argument("--nodes", type=int, default=None, help="nodes (default: NUM_SHARDS)")
    p.add_argument(
        "--gpus-per-node", type=int, default=None,
        help="GPUs per node, one task each (default: NUM_GPUS); 0 = CPU tasks",
    )  # fmt: skip
    p.add_argument(
        "--tasks-per-node", type=int, default=1,
        help="CPU processes per node (gloo) when --gpus-per-node is 0",
    )  # fmt: skip
    p.add_argument("--partition")
    p.add_argument("--account")
    p.add_argument("--qos")
    p.add_argument("--constraint")
    p.add_argument("--time", type=int, metavar="MIN", help="time limit of one attempt")
    p.add_argument("--cpus-per-task", type=int)
    p.add_argument("--mem-per-gpu", type=int, metavar="GB")
    p.add_argument("--comment")
    p.add_argument("--name", help="job name")
    p.add_argument("--max-requeues", type=int, help="requeues on pre-emption / time limit")
    p.add_argument("--job-dir", help="job directory (default: <OUTPUT_DIR>/<job id>)")
    p.add_argument(
        "--local", action="store_true",
        help="run on this machine through submitit's LocalExecutor (one node)",
    )  # fmt: skip
    p.add_argument("--wait", action="store_true", help="wait for the job and report its result")
    return p.parse_args(argv)


def launch_opts(args: argparse.Namespace, nodes: int, tasks_per_node: int) -> list[str]:
    opts = ["NUM_SHARDS", str(nodes), "NUM_GPUS", str(tasks_per_node)]
    for flag, key in LAUNCH_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            opts += [key, str(value)]
    return opts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        base = load_config(args.cfg_files, args.opts)
        nodes = base.NUM_SHARDS if args.nodes is None else args.nodes
        gpus = base.NUM_GPUS if args.gpus_per_node is None else args.gpus_per_node
        tasks = gpus if gpus > 0 else args.tasks_per_node
        cfg = load_config(args.cfg_files, list(args.opts) + launch_opts(args, nodes, tasks))
    except ConfigError as e:
        print(f"error: {e}\nNothing was submitted.", file=sys.stderr)
        return 2

    from videossl.launch import resources_from_cfg, submit

    res = resources_from_cfg(cfg, nodes=nodes, gpus_per_node=gpus, cpu_tasks_per_node=tasks)
    try:
        job = submit(cfg, res, job_dir=args.job_dir, local=args.local)
    except (RuntimeError, ValueError) as e:
        hint = "" if args.local else " (not on a Slurm login node? try --local)"
        print(f"error: could not submit: {e}{hint}", file=sys.stderr)
        return 1
    folder = job.paths.folder
    kind = "local job" if args.local else "Slurm job"
    print(f"Submitted {kind} {job.job_id}: {nodes} node(s) x {tasks} task(s)")
    print(f"  job dir (OUTPUT_DIR): {folder}")
    print(f"  logs: {folder}/{job.job_id}_<rank>_log.out and .err; training log: {folder}/log.txt")
    if not args.wait:
        return 0
    try:
        results = job.results()
    except Exception as e:  # the job's own traceback, as submitit reports it
        print(f"Job {job.job_id} failed:\n{e}", file=sys.stderr)
        return 1
    print(f"Job {job.job_id} finished: {results[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
