"""End-to-end through tools/run_net.py: pretrain -> fine-tune -> multi-view test, resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from videossl.cli import load_chain, main, parse_args
from videossl.data.demo import write_demo_dataset
from videossl.plotting import read_metrics

REPO = Path(__file__).resolve().parents[1]
RUN_NET = str(REPO / "tools" / "run_net.py")
PRETRAIN = str(REPO / "configs" / "demo" / "pretrain_maskfeat.yaml")
FINETUNE = str(REPO / "configs" / "demo" / "finetune.yaml")
TINY = ["VIT.EMBED_DIM", "32", "VIT.DEPTH", "2", "VIT.NUM_HEADS", "2", "DATA.NUM_WORKERS", "0"]
TINY += ["TRAIN.BATCH_SIZE", "4", "LOG.PERIOD", "1"]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    write_demo_dataset(
        str(root), num_train_per_class=1, num_val_per_class=1, num_test_per_class=1, num_frames=40
    )
    return root


def test_help_describes_usage(capsys):
    with pytest.raises(SystemExit) as e:
        parse_args(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--cfg", "--opts", "--init-method", "--num-shards", "--shard-id"):
        assert flag in out


def test_overrides_with_and_without_opts():
    a = parse_args(["--cfg", "a.yaml", "b.yaml", "SOLVER.BASE_LR", "0.1"])
    assert a.cfg_files == ["a.yaml", "b.yaml"] and a.all_opts == ["SOLVER.BASE_LR", "0.1"]
    b = parse_args(["--cfg", "a.yaml", "--opts", "SOLVER.BASE_LR", "0.1"])
    assert b.cfg_files == ["a.yaml"] and b.all_opts == ["SOLVER.BASE_LR", "0.1"]


def test_typo_exits_nonzero_naming_the_key():
    proc = subprocess.run(
        [sys.executable, RUN_NET, "--cfg", PRETRAIN, "--opts", "SOLVER.BASE_LRR", "0.1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "SOLVER.BASE_LRR" in proc.stderr and "SOLVER.BASE_LR'" in proc.stderr


@pytest.mark.slow
def test_pretrain_finetune_test_end_to_end(demo_root, tmp_path, capsys):
    out = tmp_path / "runs"
    common = TINY + ["DATA.PATH_TO_DATA_DIR", str(demo_root)]
    pre = ["OUTPUT_DIR", str(out / "pre"), "SOLVER.MAX_EPOCH", "1", "MASK.IN_LOADER", "True"]
    assert main(["--cfg", PRETRAIN, *common, *pre]) == 0
    ckpts = sorted(os.listdir(out / "pre" / "checkpoints"))
    assert ckpts == ["checkpoint_e00001_i0000000.pyth"]
    ft = ["OUTPUT_DIR", str(out / "ft"), "SOLVER.MAX_EPOCH", "1"]
    ft += ["TRAIN.CHECKPOINT_FILE_PATH", str(out / "pre"), "TEST.BATCH_SIZE", "3"]
    ft += ["TEST.NUM_ENSEMBLE_VIEWS", "3", "TRAIN.EVAL_PERIOD", "0"]
    assert main(["--cfg", FINETUNE, *common, *ft]) == 0
    printed = capsys.readouterr().out
    assert "test_3x1: top-1" in printed
    ft_dir = out / "ft"
    assert (ft_dir / "config.yaml").read_text().count("CHECKPOINT_FILE_PATH") == 2
    records = [json.loads(x) for x in (ft_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["phase"] == "train_epoch"]
    assert epochs and epochs[0]["skipped_videos"] == 0  # the per-epoch bad-file summary
    test = [r for r in records if r["phase"] == "test"]
    assert test and test[0]["num_videos"] == 6 and test[0]["num_views"] == 18
    assert "Initialising from" in (ft_dir / "log.txt").read_text()
    preds = (ft_dir / "predictions_test_3x1.jsonl").read_text().splitlines()
    assert len(preds) == 6
    assert (ft_dir / "confusion_test_3x1.png").stat().st_size > 0


@pytest.mark.slow
def test_killed_run_resumes_from_checkpoint(demo_root, tmp_path):
    out = tmp_path / "pre"
    args = [sys.executable, RUN_NET, "--cfg", PRETRAIN, *TINY]
    args += ["DATA.PATH_TO_DATA_DIR", str(demo_root), "OUTPUT_DIR", str(out)]
    args += ["SOLVER.MAX_EPOCH", "50", "TRAIN.BATCH_SIZE", "2", "TRAIN.CHECKPOINT_ITER_PERIOD", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt_dir = out / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(ckpt_dir.glob("*.pyth"))) < 2:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(ckpt_dir.glob("*.pyth")), "no checkpoint was written before the kill"
    resumed = subprocess.run(
        [*args[:-2], "SOLVER.MAX_EPOCH", "1"], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resumed from" in resumed.stdout


@pytest.mark.slow
def test_mae_pretraining_then_linear_probe(demo_root, tmp_path, capsys):
    common = TINY + ["DATA.PATH_TO_DATA_DIR", str(demo_root), "SOLVER.MAX_EPOCH", "1"]
    mae = str(REPO / "configs" / "demo" / "pretrain_mae.yaml")
    probe = str(REPO / "configs" / "demo" / "linear_probe.yaml")
    pre = ["OUTPUT_DIR", str(tmp_path / "mae"), "MODEL.DECODER_DIM", "32"]
    assert main(["--cfg", mae, *common, *pre]) == 0
    assert list((tmp_path / "mae" / "checkpoints").glob("*.pyth"))
    lp = ["OUTPUT_DIR", str(tmp_path / "lp"), "TRAIN.CHECKPOINT_FILE_PATH", str(tmp_path / "mae")]
    assert main(["--cfg", probe, *common, *lp, "TEST.BATCH_SIZE", "3"]) == 0
    assert "top-1" in capsys.readouterr().out
    records = [json.loads(x) for x in (tmp_path / "lp" / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("phase") == "test" for r in records)


def _tiny_root(tmp_path):
    root = tmp_path / "data"
    write_demo_dataset(
        str(root),
        num_train_per_class=1,
        num_val_per_class=1,
        num_test_per_class=1,
        size=(32, 32),
        num_frames=8,
    )
    return root


@pytest.mark.slow
def test_chained_jobs_keep_their_own_output_dir_and_start_from_the_previous_run(tmp_path):
    """`--opts OUTPUT_DIR x` after two --cfg files: x/<job> per job, and the fine-tune starts
    from the pretraining run (it used to share x with it and "resume" its checkpoint).
    Also: the logged learning rate is the base group's, not the most layer-decayed group's."""
    out = tmp_path / "runs"
    opts = TINY + ["DATA.PATH_TO_DATA_DIR", str(_tiny_root(tmp_path)), "SOLVER.MAX_EPOCH", "1"]
    opts += ["DATA.NUM_FRAMES", "4", "TEST.ENABLE", "False", "TRAIN.EVAL_PERIOD", "0"]
    opts += [
        "SOLVER.BASE_LR",
        "1.6e-3",
        "SOLVER.WARMUP_EPOCHS",
        "2.0",
        "SOLVER.WARMUP_START_LR",
        "0.0",
    ]
    opts += ["OUTPUT_DIR", str(out)]
    assert main(["--cfg", PRETRAIN, FINETUNE, "--opts", *opts]) == 0
    assert sorted(os.listdir(out)) == ["finetune", "pretrain_maskfeat"]
    assert list((out / "pretrain_maskfeat" / "checkpoints").glob("*.pyth"))
    log = (out / "finetune" / "log.txt").read_text()
    assert f"Initialising from {out / 'pretrain_maskfeat' / 'checkpoints'}" in log
    assert "Resumed from" not in log
    # 6 clips, batch 4: one step. Peak 1.6e-3 * 4 / 16 = 4e-4; after step 1 of a 2-step warmup
    # from 0: 2e-4 (layer decay 0.75 over 2 blocks would log 2e-4 * 0.75**3 for the embedding).
    (step,) = [r for r in read_metrics(str(out / "finetune")) if r.get("phase") == "train"]
    assert step["lr"] == pytest.approx(2e-4)


def test_chain_follows_the_previous_job_unless_overridden(tmp_path):
    mae = str(REPO / "configs" / "demo" / "pretrain_mae.yaml")
    opts = ["DATA.PATH_TO_DATA_DIR", str(_tiny_root(tmp_path)), "OUTPUT_DIR", str(tmp_path / "o")]
    cfgs = load_chain([mae, FINETUNE], opts)
    names = ("pretrain_mae", "finetune")
    assert [c.OUTPUT_DIR for c in cfgs] == [str(tmp_path / "o" / n) for n in names]
    assert cfgs[1].TRAIN.CHECKPOINT_FILE_PATH == cfgs[0].OUTPUT_DIR
    mine = str(tmp_path / "weights.pyth")
    open(mine, "wb").close()
    cfgs = load_chain([mae, FINETUNE], ["TRAIN.CHECKPOINT_FILE_PATH", mine, *opts])
    assert cfgs[1].TRAIN.CHECKPOINT_FILE_PATH == mine
    # A single job: OUTPUT_DIR is the job's folder, as before; same-named configs stay apart.
    opts += ["TRAIN.CHECKPOINT_FILE_PATH", ""]
    assert load_chain([FINETUNE], opts)[0].OUTPUT_DIR == str(tmp_path / "o")
    twice = [c.OUTPUT_DIR for c in load_chain([FINETUNE, FINETUNE], opts)]
    assert twice == [str(tmp_path / "o" / "finetune"), str(tmp_path / "o" / "finetune_2")]
