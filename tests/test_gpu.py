"""CUDA behaviour that can differ from CPU (run by tools/gpu_check.py: `pytest -m gpu`).

Skipped without CUDA. Each test compares the CUDA path with an independent reference: the CPU
implementation, the fp32 computation, the unfused optimiser, or the kernel actually launched.
"""

import copy

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

CUDA = torch.device("cuda")


def _cfg(config, opts=()):
    from videossl.config import load_config

    tiny = ["DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "64", "DATA.TEST_CROP_SIZE", "64"]
    return load_config([config], tiny + list(opts))


VIT = ["VIT.PRESET", "custom", "VIT.EMBED_DIM", "128", "VIT.DEPTH", "2", "VIT.NUM_HEADS", "2"]
CONFIGS = {
    "mae": (
        "configs/kinetics/VIT_B_16x4_MAE_PT.yaml",
        VIT + ["MODEL.DECODER_DIM", "64", "MODEL.DECODER_DEPTH", "1", "MODEL.DECODER_HEADS", "2"],
    ),
    "maskfeat_mvit": (
        "configs/kinetics/MVITv2_S_16x4_MaskFeat_PT.yaml",
        ["MVIT.PRESET", "custom", "MVIT.EMBED_DIM", "32", "MVIT.DEPTHS", "[1,1,1,1]"]
        + ["MASK.UNIT", "[2,16,16]"],
    ),
    "classification": ("configs/kinetics/VIT_B_16x4_MAE_FT.yaml", VIT + ["MODEL.DROP_PATH", "0"]),
}


def _batch(cfg, n=2, seed=0):
    from videossl.masking import build_masker

    gen = torch.Generator().manual_seed(seed)
    t, s = cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE
    batch = {
        "video": torch.randint(0, 256, (n, 3, t, s, s), generator=gen, dtype=torch.uint8),
        "label": torch.randint(0, cfg.MODEL.NUM_CLASSES, (n,), generator=gen),
    }
    if cfg.MODEL.OBJECTIVE in ("mae", "maskfeat"):
        batch["mask"] = build_masker(cfg)(n, (t, s, s), generator=gen)
    return {k: v.to(CUDA) for k, v in batch.items()}


def test_hog_on_cuda_equals_cpu():
    from videossl.targets.hog import HOGTarget, hog_cells

    video = torch.randn(2, 3, 4, 64, 64, generator=torch.Generator().manual_seed(0))
    cpu = hog_cells(video)
    gpu = hog_cells(video.to(CUDA)).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-5, rtol=0)
    target = HOGTarget(gaussian_window=True)
    torch.testing.assert_close(
        target.to(CUDA)(video.to(CUDA)).cpu(), target.cpu()(video), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(hog_cells(video.to(CUDA)).cpu(), gpu, atol=0, rtol=0)  # repeatable


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bf16_autocast_losses_finite_and_close_to_fp32(name):
    from videossl.engine.trainer import autocast
    from videossl.models.build import build_model

    cfg = _cfg(*CONFIGS[name])
    torch.manual_seed(0)
    model = build_model(cfg).to(CUDA)
    batch = _batch(cfg)  # masks drawn here: both runs see the same ones
    torch.manual_seed(1)
    ref = model(batch)
    torch.manual_seed(1)
    with autocast(CUDA, "bf16"):
        low = model(batch)
    for key in ref:
        if not key.startswith("loss"):
            continue
        assert torch.isfinite(low[key]), key
        torch.testing.assert_close(low[key].float(), ref[key].float(), rtol=5e-2, atol=1e-3)


def test_fused_adamw_step_equals_unfused():
    from videossl.engine.optim import build_optimizer
    from videossl.models.build import build_model

    cfg = _cfg(*CONFIGS["classification"])
    torch.manual_seed(0)
    a = build_model(cfg).to(CUDA)
    b = copy.deepcopy(a)
    opt_a = build_optimizer(a, lr=1e-3, weight_decay=0.05, fused=True)
    opt_b = build_optimizer(b, lr=1e-3, weight_decay=0.05, fused=False)
    assert opt_a.defaults.get("fused") and not opt_b.defaults.get("fused")
    for step in range(3):
        batch = _batch(cfg, seed=step)
        for model, opt in ((a, opt_a), (b, opt_b)):
            torch.manual_seed(step)
            model(batch)["loss_cls"].backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6, msg=name)


def _sdpa_ops(model, batch):
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            sum(v for k, v in model(batch).items() if k.startswith("loss")).backward()
    return {e.key for e in prof.key_averages() if "scaled_dot_product" in e.key}


def test_vit_attention_runs_flash_or_efficient_kernels():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from videossl.models.build import build_model

    cfg = _cfg(*CONFIGS["mae"])
    model = build_model(cfg).to(CUDA)
    batch = _batch(cfg)
    ops = _sdpa_ops(model, batch)
    assert any("flash" in op or "efficient" in op for op in ops), ops
    assert not any("math" in op for op in ops), ops
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]):
        _sdpa_ops(model, batch)  # raises if only the math path could serve these shapes


def test_mvit_attention_with_relative_positions_avoids_the_math_path():
    from videossl.models.build import build_model

    cfg = _cfg(*CONFIGS["maskfeat_mvit"])
    model = build_model(cfg).to(CUDA)
    ops = _sdpa_ops(model, _batch(cfg))
    assert ops and not any("math" in op for op in ops), ops


def test_uint8_normalised_on_cuda_equals_cpu():
    from videossl.models.normalize import Normalize

    video = torch.randint(0, 256, (2, 3, 4, 8, 8), dtype=torch.uint8)
    normalize = Normalize((0.45, 0.45, 0.45), (0.225, 0.225, 0.225))
    out = normalize.to(CUDA)(video.pin_memory().to(CUDA, non_blocking=True))
    assert out.device.type == "cuda" and out.dtype == torch.float32
    torch.testing.assert_close(out.cpu(), normalize.cpu()(video), atol=1e-6, rtol=0)
