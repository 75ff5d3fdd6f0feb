"""LinearProbe: frozen encoder in eval mode, BatchNorm-without-affine + linear head, only the
head trains, registered as the "linear_probe" objective."""

from __future__ import annotations

import pytest
import torch

import videossl.models.linear_probe  # noqa: F401  (registers the objective)
from videossl.config import load_config
from videossl.engine.optim import build_optimizer
from videossl.models.build import build_model
from videossl.models.registry import OBJECTIVES

TINY = [
    "MODEL.OBJECTIVE",
    "linear_probe",
    "MODEL.ARCH",
    "vit",
    "VIT.PRESET",
    "custom",
    "VIT.EMBED_DIM",
    "32",
    "VIT.DEPTH",
    "2",
    "VIT.NUM_HEADS",
    "2",
    "DATA.TRAIN_CROP_SIZE",
    "32",
    "DATA.TEST_CROP_SIZE",
    "32",
    "DATA.NUM_FRAMES",
    "4",
    "MODEL.NUM_CLASSES",
    "3",
    "MODEL.DROP_PATH",
    "0.2",
]


def _probe(*opts):
    torch.manual_seed(0)
    return build_model(load_config([], TINY + list(opts)))


def _batch(n=6):
    g = torch.Generator().manual_seed(1)
    video = torch.randint(0, 256, (n, 3, 4, 32, 32), generator=g, dtype=torch.uint8)
    return {"video": video, "label": torch.arange(n) % 3}


def test_registered_and_only_head_trains():
    assert "linear_probe" in OBJECTIVES
    model = _probe()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.1.weight", "head.1.bias"}
    bn = model.head[0]
    assert isinstance(bn, torch.nn.BatchNorm1d) and not bn.affine
    assert model.no_weight_decay() == set()


def test_encoder_stays_in_eval_mode_and_frozen():
    model = _probe()
    model.train()
    assert model.training and model.head.training and not model.encoder.training
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    opt = build_optimizer(model, lr=0.05, weight_decay=0.0, fused=False)
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == 32 * 3 + 3
    batch = _batch()
    losses = []
    for _ in range(15):
        loss = model(batch)["loss_cls"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(v, before[k]), k
    # Eval mode in training: drop path is off, so features are deterministic.
    assert torch.equal(model.features(batch["video"]), model.features(batch["video"]))


def test_predict_and_features_shapes():
    model = _probe().eval()
    batch = _batch(4)
    assert model.predict(batch)["logits"].shape == (4, 3)
    feats = model.features(batch["video"])
    tokens = model.encoder(model.normalize(batch["video"]))
    assert torch.allclose(feats, tokens.mean(1))


def test_cls_pool_needs_cls_token():
    with pytest.raises(ValueError, match="cls token"):
        _probe("MODEL.POOL", "cls")
    model = _probe("MODEL.POOL", "cls", "VIT.CLS_TOKEN", "True").eval()
    video = _batch(2)["video"]
    assert torch.allclose(model.features(video), model.encoder(model.normalize(video))[:, 0])
