import json

import pytest
import torch
from netutil import free_port

from videossl import distributed as dist_utils
from videossl.data.loader import make_loader
from videossl.engine.evaluators import (
    ClassificationEvaluator,
    confusion_matrix,
    mean_class_accuracy,
    topk_accuracy,
)


class FakeViews(torch.utils.data.Dataset):
    """`num_videos` x `views` items whose logits are fixed per (video, view)."""

    def __init__(self, logits: torch.Tensor, labels: list[int]):
        self.logits = logits  # [V, S, K]
        self.labels = labels
        self.paths = [f"v{i}.mp4" for i in range(len(labels))]
        self.views = logits.shape[1]

    def __len__(self):
        return len(self.labels) * self.views

    def __getitem__(self, i):
        vid, view = divmod(i, self.views)
        return {
            "logits": self.logits[vid, view],
            "index": torch.tensor(vid),
            "view": torch.tensor(view),
            "valid": torch.tensor(True),
        }


def _fixed():
    # 3 videos x 2 views x 6 classes; log-probabilities chosen so softmax is known.
    probs = torch.full((3, 2, 6), 0.02)
    probs[0, 0, 1], probs[0, 0, 0], probs[0, 1, 0] = 0.8, 0.1, 0.8  # mean: class 0 .45 > 1 .41
    probs[0, 1, 1] = 0.02
    probs[1, :, 2] = 0.9  # video 1: class 2 on both views
    probs[2, 0, 4], probs[2, 1, 5] = 0.9, 0.9  # video 2: 4 and 5 tie; true label 3 is 3rd...
    probs[2, :, 3] = 0.05
    return probs.log(), [0, 3, 3]


def _run(evaluator, dataset, **loader_kw):
    loader = make_loader(dataset, batch_size=2, shuffle=False, drop_last=False, **loader_kw)
    for batch in loader:
        evaluator.process(batch, {"logits": batch["logits"]})
    return evaluator.summarize()


def test_hand_computed_topk_and_files(tmp_path):
    logits, labels = _fixed()
    ds = FakeViews(logits, labels)
    ev = ClassificationEvaluator(dataset=ds, output_dir=str(tmp_path), tag="t")
    res = _run(ev, ds)
    # video 0 -> 0 (right); video 1 -> 2 (wrong, 3 is 2nd); video 2 -> 4/5 (wrong, 3 is 3rd).
    assert res["top1"] == pytest.approx(100 / 3)
    assert res["top5"] == pytest.approx(100.0)
    assert res["num_videos"] == 3 and res["num_views"] == 6
    preds = [json.loads(x) for x in (tmp_path / "predictions_t.jsonl").read_text().splitlines()]
    assert [p["pred"] for p in preds][:2] == [0, 2] and preds[0]["path"] == "v0.mp4"
    assert (tmp_path / "confusion_t.png").exists()


def test_max_ensemble_differs_from_sum(tmp_path):
    logits, labels = _fixed()
    ds = FakeViews(logits, labels)
    res = _run(ClassificationEvaluator(dataset=ds, output_dir=str(tmp_path), ensemble="max"), ds)
    # max over views for video 0: class 1 (0.8) ties class 0 (0.8) -> argmax picks 0 first.
    assert res["top1"] == pytest.approx(100 / 3)


def test_metric_helpers():
    probs = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 2])
    assert topk_accuracy(probs, labels, 1) == pytest.approx(200 / 3)
    assert topk_accuracy(probs, labels, 2) == pytest.approx(100.0)
    preds = probs.argmax(1)
    assert mean_class_accuracy(preds, labels, 3) == pytest.approx(75.0)  # class1 1/1, class2 1/2
    cm = confusion_matrix(preds, labels, 3)
    assert cm.tolist() == [[0, 0, 0], [0, 1, 0], [1, 0, 1]]


def test_invalid_views_are_excluded_and_counted(tmp_path):
    logits, labels = _fixed()
    ds = FakeViews(logits, labels)
    ev = ClassificationEvaluator(dataset=ds, output_dir=str(tmp_path))
    items = [ds[i] for i in range(len(ds))]
    for i in (2, 4, 5):  # video 1 view 0, both views of video 2
        items[i]["valid"] = torch.tensor(False)
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    ev.process(batch, {"logits": batch["logits"]})
    res = ev.summarize()
    assert res["invalid_views"] == 3 and res["missing_videos"] == 1
    assert res["num_videos"] == 2 and res["num_views"] == 3
    assert res["top1"] == pytest.approx(50.0)


def _two_rank_eval(out_dir: str) -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 1, 4)  # 5 videos, 1 view: not divisible by 2 ranks
    labels = [0, 1, 2, 3, 0]
    ds = FakeViews(logits, labels)
    ev = ClassificationEvaluator(dataset=ds, output_dir=out_dir)
    res = _run(ev, ds, rank=dist_utils.get_rank(), world_size=dist_utils.get_world_size())
    expected = float((logits[:, 0].argmax(1) == torch.tensor(labels)).float().mean() * 100)
    with open(f"{out_dir}/rank{dist_utils.get_rank()}.json", "w") as f:
        json.dump({"res": res, "expected": expected}, f)


@pytest.mark.slow
def test_two_processes_count_every_video_once(tmp_path):
    dist_utils.launch(
        _two_rank_eval,
        (str(tmp_path),),
        procs_per_node=2,
        init_method=f"tcp://127.0.0.1:{free_port()}",
        backend="gloo",
        timeout_s=60,
    )
    for rank in (0, 1):
        data = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert data["res"]["num_videos"] == 5 and data["res"]["num_views"] == 5
        assert data["res"]["top1"] == pytest.approx(data["expected"])
