"""tools/demo.py and videossl.demo_compare: the comparison at a reduced size, and its parts."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

from videossl.demo_compare import DemoPlan, Job, _eta, format_table, plan_jobs, summarize

REPO = Path(__file__).resolve().parents[1]
TINY = ["VIT.EMBED_DIM", "32", "VIT.DEPTH", "2", "VIT.NUM_HEADS", "2", "TRAIN.BATCH_SIZE", "4"]
TINY += ["TRAIN.EVAL_PERIOD", "1", "TEST.BATCH_SIZE", "6", "LOG.PERIOD", "1"]


def _tool():
    spec = importlib.util.spec_from_file_location("demo_tool", REPO / "tools" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_reduced_comparison_writes_table_and_png(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--data", str(tmp_path / "data"), "--out", str(out), "--seeds", "2"]
    args += ["--pool-per-class", "2", "--train-per-class", "1", "--val-per-class", "1"]
    args += ["--test-per-class", "1", "--pretrain-epochs", "1", "--finetune-epochs", "2"]
    assert _tool().main([*args, "--opts", *TINY]) == 0
    printed = capsys.readouterr().out
    first = printed.splitlines()[0]
    assert "Generating" in first and "30 clips" in first  # (2 + 1 + 1 + 1) x 6 classes
    assert "ETA" in printed
    table = (out / "results.md").read_text()
    for arm in ("MaskFeat -> fine-tune", "MAE -> fine-tune", "scratch (no", "MaskFeat -> linear"):
        assert f"| {arm}" in table and arm in printed
    assert "| seed 0 | seed 1 |" in table
    results = json.loads((out / "results.json").read_text())
    assert [len(r["top1"]) for r in results["rows"]] == [2, 2, 2, 2]
    for row in results["rows"]:
        for run in row["runs"]:
            evals = [
                json.loads(x) for x in (out / run / "metrics.jsonl").read_text().split("\n")[:-1]
            ]
            assert [r["epoch"] for r in evals if r.get("type") == "eval"] == [1, 2]
    png = out / "demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and results["png"] == str(png)
    # Pretraining ran once per method; every fine-tune started from its own arm's run.
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("pretrain")) == [
        "pretrain_mae",
        "pretrain_maskfeat",
    ]
    assert "pretrain_mae" in (out / "mae_fine-tune_seed1" / "log.txt").read_text()
    assert "Initialising" not in (out / "scratch_seed1" / "log.txt").read_text()


def test_jobs_share_budget_and_seed_across_arms(tmp_path):
    plan = DemoPlan(
        config_dir=str(REPO / "configs" / "demo"), output_dir="o", seeds=(0, 1), finetune_epochs=7
    )
    jobs = plan_jobs(plan)
    names = [j.name for j in jobs]
    assert names[:2] == ["pretrain_maskfeat", "pretrain_mae"] and len(names) == 2 + 4 * 2
    fine = [dict(zip(j.opts[0::2], j.opts[1::2])) for j in jobs[2:]]
    assert {f["SOLVER.MAX_EPOCH"] for f in fine} == {"7"}
    assert [f["RNG_SEED"] for f in fine] == ["0"] * 4 + ["1"] * 4
    inits = [f["TRAIN.CHECKPOINT_FILE_PATH"] for f in fine[:4]]
    assert inits == ["o/pretrain_maskfeat", "o/pretrain_mae", "", "o/pretrain_maskfeat"]


def test_table_mean_and_sample_std():
    plan = DemoPlan(config_dir="c", seeds=(0, 1, 2), probe=False)
    top1 = {"maskfeat_fine-tune": [50.0, 60.0, 70.0], "mae_fine-tune": [40.0, 40.0, 40.0]}
    top1["scratch"] = [20.0, 30.0, 25.0]
    flat = {f"{k}_seed{s}": v[s] for k, v in top1.items() for s in range(3)}
    rows = summarize(plan, flat)
    assert [r["mean"] for r in rows] == [60.0, 40.0, 25.0]
    assert rows[0]["std"] == pytest.approx(10.0) and rows[1]["std"] == 0.0
    table = format_table(rows, plan.seeds, 100 / 6)
    assert "| MaskFeat -> fine-tune | 60.0 ± 10.0 | 50.0 | 60.0 | 70.0 |" in table
    assert "Chance: 16.7%" in table
    one = summarize(DemoPlan(config_dir="c", seeds=(0,), probe=False), flat)
    assert math.isnan(one[0]["std"]) and "| 50.0 | 50.0 |" in format_table(one, (0,), 10.0)


def test_eta_prices_each_remaining_job_at_its_kinds_measured_rate():
    pre = [Job("p1", "c", cost=100.0, kind="pretrain"), Job("p2", "c", cost=100.0, kind="pretrain")]
    fine = [Job(f"f{i}", "c", cost=10.0) for i in range(3)]
    assert _eta(pre + fine, []) == "?"
    # Before any fine-tune ran, fine-tunes are priced at the pretraining rate (0.6 s per unit).
    assert _eta(pre[1:] + fine, [(pre[0], 60.0)]) == "1m18s"  # 60 + 3 x 6
    # Fine-tunes cost far more per clip (start-up, evaluation): their own rate takes over.
    assert _eta(fine[1:], [(pre[0], 60.0), (pre[1], 60.0), (fine[0], 15.0)]) == "0m30s"
