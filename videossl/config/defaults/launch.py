"""LAUNCH: Slurm jobs through submitit (`tools/submit.py`; see docs/slurm.md)."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.LAUNCH = CfgNode()
    # Slurm's --partition / --account / --qos / --constraint / --comment ("" = not given).
    cfg.LAUNCH.PARTITION = ""
    cfg.LAUNCH.ACCOUNT = ""
    cfg.LAUNCH.QOS = ""
    cfg.LAUNCH.CONSTRAINT = ""
    cfg.LAUNCH.COMMENT = ""
    # Time limit of one attempt, in minutes (--time).
    cfg.LAUNCH.TIME_MIN = 4320
    cfg.LAUNCH.CPUS_PER_TASK = 10
    # --mem-per-gpu in GB (0 = the partition's default).
    cfg.LAUNCH.MEM_PER_GPU_GB = 60
    # How many times a pre-empted or timed-out job requeues itself before it stops.
    cfg.LAUNCH.MAX_REQUEUES = 10
    # Slurm job name.
    cfg.LAUNCH.NAME = "videossl"
    # Slurm sends USR2 this many seconds before the time limit: checkpoint, then requeue.
    cfg.LAUNCH.SIGNAL_DELAY_S = 120
