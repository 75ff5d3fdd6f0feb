"""`tools/run_net.py`: PySlowFast's command line, on videossl."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .config import ConfigError, load_config

DESCRIPTION = """Train and/or test a videossl model from YAML configs.

Each --cfg file is one job; several files run one after another (e.g. a pretraining config
then a fine-tuning config). In a chain, a job whose config starts from a checkpoint
(TRAIN.CHECKPOINT_FILE_PATH) starts from the previous job's run, and an OUTPUT_DIR override is
the parent folder: each job writes to OUTPUT_DIR/<config name>. Overrides apply to every job and
may be given after --opts or directly as trailing KEY VALUE pairs, as in PySlowFast.
Re-running the same command resumes from the newest checkpoint in OUTPUT_DIR.
"""

EPILOG = """examples:
  python tools/run_net.py --cfg configs/demo/pretrain_maskfeat.yaml configs/demo/finetune.yaml
  python tools/run_net.py --cfg configs/kinetics/MVITv2_S_16x4_MaskFeat_PT.yaml \\
      DATA.PATH_TO_DATA_DIR /data/k400 NUM_GPUS 8 OUTPUT_DIR runs/pt
  torchrun --nproc_per_node 8 tools/run_net.py --cfg CFG.yaml      (env:// rendezvous)
  python tools/run_net.py --cfg CFG.yaml --init-method tcp://node0:9999 \\
      --num-shards 2 --shard-id 0 NUM_GPUS 8                        (PySlowFast multi-node)
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="run_net.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cfg",
        "--cfg_file",
        dest="cfg_files",
        nargs="+",
        required=True,
        metavar="FILE",
        help="config YAML file(s); each runs as its own job, in order",
    )
    parser.add_argument(
        "--opts",
        nargs=argparse.REMAINDER,
        default=[],
        metavar="KEY VALUE",
        help="config overrides, e.g. SOLVER.BASE_LR 0.001 OUTPUT_DIR runs/x",
    )
    parser.add_argument(
        "--init-method",
        "--init_method",
        dest="init_method",
        default=None,
        help="rendezvous URL for PySlowFast-style multi-node runs, e.g. tcp://host:9999",
    )
    parser.add_argument(
        "--num-shards",
        "--num_shards",
        dest="num_shards",
        type=int,
        default=None,
        help="number of nodes (machines) in the job",
    )
    parser.add_argument(
        "--shard-id",
        "--shard_id",
        dest="shard_id",
        type=int,
        default=None,
        help="this node's index in [0, num-shards)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show full tracebacks for configuration and data errors",
    )
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    files = args.cfg_files
    first_key = next((i for i, f in enumerate(files) if not f.endswith((".yaml", ".yml"))), None)
    if first_key is not None:  # `--cfg a.yaml KEY VALUE ...`: the rest are overrides
        args.cfg_files, args.overrides = files[:first_key], files[first_key:] + args.overrides
        if not args.cfg_files:
            parser.error(f"--cfg needs a .yaml file; got '{files[0]}'")
    if args.overrides and args.overrides[0] == "--opts":
        args.overrides = args.overrides[1:]
    args.all_opts = list(args.overrides) + list(args.opts or [])
    return args


def _cli_overrides(args: argparse.Namespace) -> list[str]:
    extra = []
    if args.init_method:
        extra += ["DISTRIBUTED.INIT_METHOD", args.init_method]
    if args.num_shards is not None:
        extra += ["NUM_SHARDS", str(args.num_shards)]
    if args.shard_id is not None:
        extra += ["SHARD_ID", str(args.shard_id)]
    return extra


def _worker(cfg) -> dict[str, Any]:
    from .job import run_job

    return run_job(cfg)


def _launched_externally() -> bool:
    """torchrun (WORLD_SIZE) or srun without torchrun (SLURM_NTASKS > 1)."""
    return "WORLD_SIZE" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) > 1


def run_config(cfg) -> dict[str, Any] | None:
    from .distributed import init_distributed, launch

    if _launched_externally():
        init_distributed(timeout_s=cfg.DISTRIBUTED.TIMEOUT_S, backend=cfg.DISTRIBUTED.BACKEND)
        return _worker(cfg)
    if cfg.NUM_GPUS * cfg.NUM_SHARDS == 1:
        return _worker(cfg)
    launch(
        _worker,
        (cfg,),
        procs_per_node=cfg.NUM_GPUS,
        num_shards=cfg.NUM_SHARDS,
        shard_id=cfg.SHARD_ID,
        init_method=cfg.DISTRIBUTED.INIT_METHOD,
        backend=cfg.DISTRIBUTED.BACKEND,
        timeout_s=cfg.DISTRIBUTED.TIMEOUT_S,
    )
    return None


def _one_line(message: object) -> str:
    """The message on one line; of an error re-raised from a loader worker, its last line."""
    text = str(message)
    if "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = last.split(": ", 1)[-1]
    return " ".join(text.split())


def load_checked(path: str, opts: list[str], earlier_runs: tuple[str, ...] = ()):
    """Load one config and check it against the machine; every problem is a ConfigError.
    `earlier_runs`: OUTPUT_DIRs of the jobs chained before it (may hold its init checkpoint)."""
    from .config.validate import check_environment

    cfg = _load(path, opts)
    check_environment(cfg, earlier_runs)
    return cfg


def _load(path: str, opts: list[str]):
    try:
        return load_config([path], opts)
    except ConfigError:
        raise
    except (ValueError, AssertionError, KeyError, TypeError) as e:
        # fvcore's type coercion while merging the YAML: name the file as well as the key.
        raise ConfigError(f"Bad value in config file {path}: {_one_line(e)}") from e


def _override(opts: list[str], key: str) -> str | None:
    """The last value given to `key` in KEY VALUE pairs, or None."""
    values = [v for k, v in zip(opts[0::2], opts[1::2]) if k == key]
    return values[-1] if values else None


def _job_names(paths: list[str]) -> list[str]:
    """One folder name per job: the config's file name, made unique with _2, _3, ..."""
    names: list[str] = []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        name, n = stem, 1
        while name in names:
            n += 1
            name = f"{stem}_{n}"
        names.append(name)
    return names


def load_chain(paths: list[str], opts: list[str]) -> list:
    """The configs of chained jobs, checked. With several jobs, an OUTPUT_DIR override is their
    parent folder (one sub-folder per job, named after its config file), and a job after the
    first whose config sets TRAIN.CHECKPOINT_FILE_PATH starts from the previous job's run,
    unless the overrides name a checkpoint."""
    parent = _override(opts, "OUTPUT_DIR")
    explicit_init = _override(opts, "TRAIN.CHECKPOINT_FILE_PATH") is not None
    cfgs: list = []
    for path, name in zip(paths, _job_names(paths)):
        job_opts = list(opts)
        if parent is not None and len(paths) > 1:
            job_opts += ["OUTPUT_DIR", os.path.join(parent, name)]
        if cfgs and not explicit_init and _load(path, job_opts).TRAIN.CHECKPOINT_FILE_PATH:
            job_opts += ["TRAIN.CHECKPOINT_FILE_PATH", cfgs[-1].OUTPUT_DIR]
        cfgs.append(load_checked(path, job_opts, tuple(c.OUTPUT_DIR for c in cfgs)))
    return cfgs


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix (a one-line message, exit 2), not bugs."""
    from .data.base import DatasetMostlyBad
    from .data.records import ListFormatError

    return ConfigError, ListFormatError, DatasetMostlyBad


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    opts = args.all_opts + _cli_overrides(args)
    try:
        cfgs = load_chain(args.cfg_files, opts)
    except ConfigError as e:
        if args.debug:
            raise
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    for path, cfg in zip(args.cfg_files, cfgs):
        try:
            results = run_config(cfg)
        except _user_errors() as e:
            if args.debug:
                raise
            print(f"error: {_one_line(e)}", file=sys.stderr)
            return 2
        except Exception as e:
            from .engine.guard import TrainingDiverged

            if args.debug or not isinstance(e, TrainingDiverged):
                raise
            print(f"error: {_one_line(e)}", file=sys.stderr)
            return 3
        for tag, res in ((results or {}).get("test") or {}).items():
            name = os.path.basename(path)
            if "top1" in res:
                print(
                    f"[{name}] {tag}: top-1 {res['top1']:.2f}  "
                    f"top-5 {res['top5']:.2f}  ({int(res['num_videos'])} videos)"
                )
            if "mAP" in res:
                print(f"[{name}] {tag}: frame mAP@0.5 {res['mAP']:.2f}")
    return 0
