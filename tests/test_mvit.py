"""MViTv2 encoder: published sizes, tiny forward/backward, MaskFeat variant, builder, hooks."""

import math

import pytest
import torch
from timm.optim import param_groups_layer_decay

from videossl.config import get_defaults
from videossl.masking import mask_to_grid
from videossl.models.flops import count_gflops
from videossl.models.mvit import MViT, build_mvit, mvit_block_plan
from videossl.models.mvit_presets import MVIT_PRESETS, mvit_preset
from videossl.models.registry import ENCODERS

TINY = dict(embed_dim=16, num_heads=1, depths=(1, 2), num_frames=4, img_size=32)


def _params_with_head(model: MViT, num_classes: int = 400) -> float:
    n = sum(p.numel() for p in model.parameters())
    return (n + model.embed_dim * num_classes + num_classes) / 1e6


@pytest.mark.parametrize(
    "preset,frames,size,published",
    [
        ("S", 16, 224, 34.5),
        ("S_MASKFEAT", 16, 224, 36.5),
        ("B", 32, 224, 51.2),
        ("L_MASKFEAT", 16, 224, 217.6),
    ],
)
def test_preset_params_match_published(preset, frames, size, published):
    with torch.device("meta"):
        model = MViT(num_frames=frames, img_size=size, **mvit_preset(preset))
    assert abs(_params_with_head(model) - published) < 0.1


@pytest.mark.parametrize("preset", sorted(MVIT_PRESETS))
@pytest.mark.parametrize("frames,size", [(16, 224), (32, 224), (40, 312)])
def test_every_preset_builds_for_published_inputs(preset, frames, size):
    with torch.device("meta"):
        model = MViT(num_frames=frames, img_size=size, **mvit_preset(preset))
    s = math.ceil(size / 32)  # 312 -> 78 -> 39 -> 20 -> 10 (padded pooling rounds up)
    assert model.output_grid(frames, size, size) == (frames // 2, s, s)
    assert model.embed_dim == 8 * (144 if preset.startswith("L") else 96)
    assert len(model.blocks) == sum(MVIT_PRESETS[preset]["depths"])


def test_unknown_preset_names_the_choices():
    with pytest.raises(KeyError, match="S_MASKFEAT"):
        mvit_preset("XL")


@pytest.mark.slow
def test_mvit_s_gflops_match_published():
    # Counted on the CPU with real tensors: fvcore's trace of Conv3d fails on the meta device.
    model = MViT(num_frames=16, img_size=224, **mvit_preset("S"))
    gflops = count_gflops(model, (1, 3, 16, 224, 224), device="cpu") + model.embed_dim * 400 / 1e9
    assert abs(gflops - 64.5) / 64.5 < 0.01


def test_block_plan_follows_published_config():
    plan = mvit_block_plan(stem_grid=(8, 56, 56), embed_dim=96, num_heads=1, depths=(1, 2, 11, 2))
    assert [p["dim_out"] for p in plan][:4] == [96, 192, 192, 384]
    assert plan[14]["dim"] == 384 and plan[14]["dim_out"] == 768 and plan[14]["num_heads"] == 8
    assert [i for i, p in enumerate(plan) if p["stride_q"] != (1, 1, 1)] == [1, 3, 14]
    assert [p["stride_kv"] for p in plan[:4]] == [(1, 8, 8), (1, 4, 4), (1, 4, 4), (1, 2, 2)]
    assert plan[15]["stride_kv"] == (1, 1, 1) and plan[15]["input_size"] == (8, 7, 7)
    no_att = mvit_block_plan(
        stem_grid=(8, 56, 56), embed_dim=96, num_heads=1, depths=(1, 2, 11, 2),
        dim_mul_in_att=False, pool_last_stage=False,
    )  # fmt: skip
    assert [p["dim_out"] for p in no_att][:4] == [192, 192, 384, 384]
    assert no_att[0]["num_heads"] == 1 and no_att[1]["num_heads"] == 2
    assert no_att[14]["stride_q"] == (1, 1, 1) and no_att[15]["stride_kv"] == (1, 2, 2)


@pytest.mark.parametrize("cls_token,abs_pos", [(True, False), (False, True)])
def test_tiny_forward_backward_with_and_without_mask(cls_token, abs_pos):
    torch.manual_seed(0)
    model = MViT(**TINY, cls_token=cls_token, abs_pos_embed=abs_pos, mask_token=True)
    assert model.input_grid(4, 32, 32) == (2, 8, 8)
    assert model.output_grid(4, 32, 32) == (2, 4, 4) and model.patch_size == (2, 8, 8)
    x = torch.randn(2, 3, 4, 32, 32)
    plain = model(x)
    p = model.num_prefix_tokens
    assert plain.shape == (2, p + 2 * 4 * 4, model.embed_dim) == (2, p + 32, 32)
    mask = torch.zeros(2, 2, 4, 4, dtype=torch.bool)  # unit grid dividing the 2x8x8 stem
    mask[:, :, :2] = True
    masked = model(x, mask_to_grid(mask, model.input_grid(4, 32, 32)).flatten(1))
    assert masked.shape == plain.shape and not torch.allclose(masked, plain)
    masked.square().mean().backward()
    grads = [q.grad for q in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.mask_token.grad.abs().sum() > 0


def test_mask_covering_nothing_equals_no_mask():
    model = MViT(**TINY, mask_token=True).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    none = torch.zeros(1, 2 * 8 * 8, dtype=torch.bool)  # [B,N] over the 2x8x8 stem grid
    torch.testing.assert_close(model(x, none), model(x))


def test_mask_errors_speak_to_the_user():
    x = torch.randn(1, 3, 4, 32, 32)
    with pytest.raises(ValueError, match="mask_token=True"):
        MViT(**TINY)(x, torch.zeros(1, 128, dtype=torch.bool))
    with pytest.raises(ValueError, match="input grid"):  # one mask form: [B,N] at the stem
        MViT(**TINY, mask_token=True)(x, torch.zeros(1, 2, 8, 8, dtype=torch.bool))


def test_other_input_size_interpolates_positions():
    model = MViT(**TINY, abs_pos_embed=True).eval()
    out = model(torch.randn(1, 3, 8, 48, 48))
    assert out.shape == (1, 1 + 4 * 6 * 6, 32)
    assert model.output_grid(8, 48, 48) == (4, 6, 6)
    assert torch.isfinite(out).all()


def _cfg(preset="S"):
    cfg = get_defaults()
    cfg.MODEL.ARCH = "mvit"
    cfg.MVIT.PRESET = preset
    return cfg


def test_builder_maskfeat_variant_keeps_stride_16():
    with torch.device("meta"):
        supervised = ENCODERS.get("mvit")(_cfg("S_MASKFEAT"))
        maskfeat = build_mvit(_cfg("S_MASKFEAT"), mask_token=True, pool_last_stage=False)
        no_norm = build_mvit(_cfg("S_MASKFEAT"), final_norm=False)
    assert isinstance(no_norm.norm, torch.nn.Identity)
    assert not isinstance(supervised.norm, torch.nn.Identity)
    assert supervised.mask_token is None and maskfeat.mask_token is not None
    assert supervised.output_grid(16, 224, 224) == (8, 7, 7)
    assert maskfeat.output_grid(16, 224, 224) == (8, 14, 14)
    assert maskfeat.patch_size == (2, 16, 16) and maskfeat.num_prefix_tokens == 1


def test_builder_custom_reads_mvit_fields():
    cfg = _cfg("custom")
    cfg.MVIT.EMBED_DIM, cfg.MVIT.DEPTHS, cfg.MVIT.CLS_TOKEN = 16, [1, 2], False
    cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE = 4, 32
    model = build_mvit(cfg, mask_token=True, pool_last_stage=False)
    out = model(torch.randn(1, 3, 4, 32, 32), torch.ones(1, 2 * 8 * 8, dtype=torch.bool))
    assert out.shape == (1, 2 * 8 * 8, 32)  # no Q pooling in the last (second) stage


def test_act_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = MViT(**TINY, mask_token=True)
    x = torch.randn(2, 3, 4, 32, 32)
    mask = mask_to_grid(torch.rand(2, 2, 4, 4) > 0.5, (2, 8, 8)).flatten(1)

    def grads():
        model.zero_grad()
        model(x, mask).square().sum().backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = grads()
    model.set_grad_checkpointing(True)
    checkpointed = grads()
    for a, b in zip(plain, checkpointed):
        torch.testing.assert_close(a, b)


def test_timm_layer_decay_and_weight_decay_hooks():
    model = MViT(**TINY, mask_token=True)
    groups = param_groups_layer_decay(model, weight_decay=0.05, layer_decay=0.5)
    scales = {g["lr_scale"] for g in groups}
    # stem, then one group per block; timm merges the final norm into the last block's group
    assert len(scales) == len(model.blocks) + 1
    assert model.no_weight_decay() == set()
    zero = MViT(**TINY, zero_decay_pos_cls=True).no_weight_decay()
    assert "cls_token" in zero and "blocks.0.attn.rel_pos_h" in zero
