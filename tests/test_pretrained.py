import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from videossl.models.heads import ClassificationHead
from videossl.models.layers import sincos_1d_table
from videossl.models.vit import VisionTransformer3D
from videossl.pretrained import detect_format, guess_grid, load_pretrained, unwrap_state

C, DEPTH, HEADS, P = 32, 2, 2, 8
TINY = dict(img_size=32, num_frames=4, patch_size=P, embed_dim=C, depth=DEPTH, num_heads=HEADS)


def _rand(*shape):
    return torch.randn(*shape) * 0.1


def _block_keys(prefix, separate_qkv=False, qv_bias=True):
    sd = {}
    for i in range(DEPTH):
        b = f"{prefix}blocks.{i}."
        if separate_qkv:
            for n in "qkv":
                sd[b + f"attn.{n}.weight"], sd[b + f"attn.{n}.bias"] = _rand(C, C), _rand(C)
        else:
            sd[b + "attn.qkv.weight"] = _rand(3 * C, C)
            if qv_bias:
                sd[b + "attn.q_bias"], sd[b + "attn.v_bias"] = _rand(C), _rand(C)
        sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"] = _rand(C, C), _rand(C)
        for n in ("norm1", "norm2"):
            sd[b + n + ".weight"], sd[b + n + ".bias"] = 1 + _rand(C), _rand(C)
        sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"] = _rand(4 * C, C), _rand(4 * C)
        sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"] = _rand(C, 4 * C), _rand(C)
    sd[prefix + "patch_embed.proj.weight"] = _rand(C, 3, 2, P, P)
    sd[prefix + "patch_embed.proj.bias"] = _rand(C)
    return sd


def videomae_pretrain_sd():
    torch.manual_seed(0)
    sd = _block_keys("encoder.")
    sd["encoder.norm.weight"], sd["encoder.norm.bias"] = 1 + _rand(C), _rand(C)
    sd["encoder_to_decoder.weight"] = _rand(16, C)
    sd["mask_token"] = _rand(1, 1, 16)
    sd["decoder.head.weight"], sd["decoder.head.bias"] = _rand(1536, 16), _rand(1536)
    return {"model": sd}


def _ref_block(sd, b, x, q_bias, k_bias, v_bias, qkv_w):
    def ln(t, n):
        return F.layer_norm(t, (C,), sd[b + n + ".weight"], sd[b + n + ".bias"], eps=1e-6)

    B, N, _ = x.shape
    h = ln(x, "norm1")
    q, k, v = (h @ w.t() + bb for w, bb in zip(qkv_w.chunk(3), (q_bias, k_bias, v_bias)))
    q, k, v = (t.reshape(B, N, HEADS, -1).transpose(1, 2) for t in (q, k, v))
    a = (q @ k.transpose(-1, -2) / math.sqrt(C // HEADS)).softmax(-1)
    o = (a @ v).transpose(1, 2).reshape(B, N, C)
    x = x + o @ sd[b + "attn.proj.weight"].t() + sd[b + "attn.proj.bias"]
    h = ln(x, "norm2")
    h = F.gelu(h @ sd[b + "mlp.fc1.weight"].t() + sd[b + "mlp.fc1.bias"])
    return x + h @ sd[b + "mlp.fc2.weight"].t() + sd[b + "mlp.fc2.bias"]


def _ref_embed(sd, pre, x):
    t = F.conv3d(
        x, sd[pre + "patch_embed.proj.weight"], sd[pre + "patch_embed.proj.bias"], stride=(2, P, P)
    )
    return t.flatten(2).transpose(1, 2)


def videomae_reference(sd, x):
    """VideoMAE encoder forward written from the checkpoint layout (independent of our ViT)."""
    x = _ref_embed(sd, "encoder.", x)
    x = x + sincos_1d_table(x.shape[1], C)[None]
    for i in range(DEPTH):
        b = f"encoder.blocks.{i}."
        x = _ref_block(
            sd,
            b,
            x,
            sd[b + "attn.q_bias"],
            torch.zeros(C),
            sd[b + "attn.v_bias"],
            sd[b + "attn.qkv.weight"],
        )
    return F.layer_norm(x, (C,), sd["encoder.norm.weight"], sd["encoder.norm.bias"], eps=1e-6)


@pytest.mark.parametrize("qkv_bias", ["fused", "qv"])
def test_videomae_pretrain_loads_and_matches_reference(qkv_bias):
    ckpt = videomae_pretrain_sd()
    model = VisionTransformer3D(**TINY, qkv_bias=qkv_bias).eval()
    report = load_pretrained(model, ckpt)
    assert report.fmt == "videomae" and not report.missing and not report.skipped_shape
    assert "decoder.mask_token" in report.unexpected
    x = torch.randn(2, 3, 4, 32, 32)
    torch.testing.assert_close(model(x), videomae_reference(ckpt["model"], x), atol=1e-5, rtol=1e-4)


class _Classifier(nn.Module):
    def __init__(self, encoder, head):
        super().__init__()
        self.encoder, self.head = encoder, head


def test_videomae_finetuned_with_wrappers_into_classifier():
    sd = {
        k[len("encoder.") :]: v
        for k, v in videomae_pretrain_sd()["model"].items()
        if k.startswith("encoder.") and ".norm." not in k
    }
    sd["fc_norm.weight"], sd["fc_norm.bias"] = _rand(C), _rand(C)
    sd["head.weight"], sd["head.bias"] = _rand(5, C), _rand(5)
    ckpt = {"module": {"_orig_mod." + k: v for k, v in sd.items()}}  # DeepSpeed + compile
    model = _Classifier(VisionTransformer3D(**TINY, final_norm=False), ClassificationHead(C, 5))
    report = load_pretrained(model, ckpt)
    assert not report.missing and not report.unexpected
    torch.testing.assert_close(model.head.fc.weight, sd["head.weight"])
    torch.testing.assert_close(model.head.fc_norm.bias, sd["fc_norm.bias"])


def mae_st_sd(cls=True):
    torch.manual_seed(1)
    sd = _block_keys("", separate_qkv=True)
    sd["norm.weight"], sd["norm.bias"] = 1 + _rand(C), _rand(C)
    sd["pos_embed_spatial"], sd["pos_embed_temporal"] = _rand(1, 16, C), _rand(1, 2, C)
    if cls:
        sd["cls_token"], sd["pos_embed_class"] = _rand(1, 1, C), _rand(1, 1, C)
    return sd  # a pretrained encoder: `norm` is the final norm on every token


def mae_st_reference(sd, x):
    x = _ref_embed(sd, "", x)
    pos = sd["pos_embed_spatial"].repeat(1, 2, 1) + sd["pos_embed_temporal"].repeat_interleave(
        16, dim=1
    )
    x = torch.cat(
        [(sd["cls_token"] + sd["pos_embed_class"]).expand(x.shape[0], -1, -1), x + pos], 1
    )
    for i in range(DEPTH):
        b = f"blocks.{i}."
        w = torch.cat([sd[b + f"attn.{n}.weight"] for n in "qkv"])
        x = _ref_block(sd, b, x, *(sd[b + f"attn.{n}.bias"] for n in "qkv"), w)
    return F.layer_norm(x, (C,), sd["norm.weight"], sd["norm.bias"], eps=1e-6)


@pytest.mark.parametrize("pos", ["separable", "learned"])
def test_mae_st_loads_and_matches_reference(pos):
    sd = mae_st_sd()
    model = VisionTransformer3D(**TINY, pos_embed=pos, cls_token=True).eval()
    report = load_pretrained(model, {"model": sd})
    assert report.fmt == "mae_st" and not report.missing and not report.skipped_shape
    assert not report.unexpected and not report.problems
    x = torch.randn(2, 3, 4, 32, 32)
    torch.testing.assert_close(model(x), mae_st_reference(sd, x), atol=1e-5, rtol=1e-4)


def test_pos_embed_interpolation_8_to_16_time_14_to_16_space():
    src = VisionTransformer3D(
        img_size=56,
        num_frames=16,
        patch_size=4,
        embed_dim=16,
        depth=1,
        num_heads=2,
        pos_embed="learned",
        cls_token=True,
    )
    dst = VisionTransformer3D(
        img_size=64,
        num_frames=32,
        patch_size=4,
        embed_dim=16,
        depth=1,
        num_heads=2,
        pos_embed="learned",
        cls_token=True,
    )
    assert src.pos_embed.shape == (1, 1 + 8 * 14 * 14, 16)
    report = load_pretrained(
        dst, {"model": {"encoder." + k: v for k, v in src.state_dict().items()}}
    )
    assert report.fmt == "ours" and report.interpolated == ["pos_embed"]
    assert dst.pos_embed.shape == (1, 1 + 16 * 16 * 16, 16)
    torch.testing.assert_close(dst.pos_embed[:, 0], src.pos_embed[:, 0])  # cls row kept
    sep_src = VisionTransformer3D(
        img_size=56,
        num_frames=16,
        patch_size=4,
        embed_dim=16,
        depth=1,
        num_heads=2,
        pos_embed="separable",
    )
    sep_dst = VisionTransformer3D(
        img_size=64,
        num_frames=32,
        patch_size=4,
        embed_dim=16,
        depth=1,
        num_heads=2,
        pos_embed="separable",
    )
    report = load_pretrained(sep_dst, sep_src.state_dict(), fmt="ours")
    assert sorted(report.interpolated) == ["pos_embed_spatial", "pos_embed_temporal"]


def test_our_training_checkpoint_into_encoder_and_objective():
    enc = VisionTransformer3D(**TINY)
    head = ClassificationHead(C, 3)
    ckpt = {
        "model": {
            **{"encoder." + k: v for k, v in enc.state_dict().items()},
            **{"head." + k: v for k, v in head.state_dict().items()},
        },
        "epoch": 3,
    }
    fresh = VisionTransformer3D(**TINY)
    report = load_pretrained(fresh, ckpt)
    assert not report.missing and report.unexpected == sorted(
        "head." + k for k in head.state_dict()
    )
    torch.testing.assert_close(fresh.blocks[1].mlp.fc2.weight, enc.blocks[1].mlp.fc2.weight)
    obj = _Classifier(VisionTransformer3D(**TINY), ClassificationHead(C, 3))
    report = load_pretrained(obj, ckpt)
    assert not report.missing and not report.unexpected


def test_rel_pos_tables_shape_mismatch_and_errors():
    class WithRelPos(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.encoder = nn.Module()
            self.encoder.rel_pos_h = nn.Parameter(torch.zeros(n, 4))
            self.encoder.weight = nn.Parameter(torch.zeros(3, 3))

    src = {
        "encoder.rel_pos_h": torch.arange(7.0)[:, None].repeat(1, 4),
        "encoder.weight": torch.ones(2, 2),
    }
    with pytest.raises(ValueError, match=r"shape cannot be fitted: encoder\.weight"):
        load_pretrained(WithRelPos(13), src, fmt="ours")
    model = WithRelPos(13)
    report = load_pretrained(model, src, fmt="ours", allow_mismatch=True)
    assert report.problems == [
        "shape cannot be fitted: encoder.weight: (2, 2) in checkpoint, (3, 3) in model"
    ]
    assert report.interpolated == ["encoder.rel_pos_h"] and len(report.skipped_shape) == 1
    assert model.encoder.rel_pos_h[0, 0] == 0 and model.encoder.rel_pos_h[-1, 0] == 6
    with pytest.raises(ValueError, match="cannot be interpolated"):
        load_pretrained(WithRelPos(13), src, fmt="ours", strict_shapes=True)
    with pytest.raises(ValueError, match="no checkpoint key"):
        load_pretrained(WithRelPos(13), {"encoder.other": torch.ones(1)}, fmt="ours")


def test_path_source_and_format_detection(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save(videomae_pretrain_sd(), path)
    model = VisionTransformer3D(**TINY)
    assert load_pretrained(model, str(path)).fmt == "videomae"
    state, wrappers = unwrap_state({"model_state": {"module.a.attn.q.weight": torch.ones(1)}})
    assert list(state) == ["a.attn.q.weight"] and detect_format(state, wrappers) == "pyslowfast"
    assert guess_grid(1568, (16, 16, 16)) == (8, 14, 14)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_pretrained(model, str(tmp_path / "missing.pth"))


def test_lost_weights_fail_loudly_unless_allowed():
    # A weight of a part both sides have that does not land (here a final norm the encoder
    # does not have, in a checkpoint of a fine-tuned model, and a missing fc_norm) raises.
    enc = VisionTransformer3D(**TINY)
    head = ClassificationHead(C, 3)
    sd = {"encoder." + k: v for k, v in enc.state_dict().items()}
    sd.update({"head.fc." + k: v for k, v in head.fc.state_dict().items()})
    sd["encoder.extra.weight"] = torch.ones(2)
    model = _Classifier(VisionTransformer3D(**TINY), ClassificationHead(C, 3))
    with pytest.raises(ValueError) as e:
        load_pretrained(model, sd, fmt="ours")
    msg = str(e.value)
    assert "checkpoint weight not loaded: encoder.extra.weight" in msg
    assert "model weight not in checkpoint: head.fc_norm.weight" in msg
    report = load_pretrained(model, sd, fmt="ours", allow_mismatch=True)
    assert len(report.problems) == 3


def test_expected_differences_are_not_problems():
    # Pretrained encoder (with its final norm and a MaskFeat mask token) + MaskFeat head into a
    # mean-pool classifier (no final norm), classifier of another class count: all expected.
    enc = VisionTransformer3D(**TINY, use_mask_token=True)
    sd = {"encoder." + k: v for k, v in enc.state_dict().items()}
    sd["head.norm.weight"], sd["head.proj.weight"] = torch.ones(C), torch.ones(9, C)
    model = _Classifier(VisionTransformer3D(**TINY, final_norm=False), ClassificationHead(C, 3))
    report = load_pretrained(model, sd, fmt="ours")
    assert not report.problems and len(report.ignored) == 4  # mask token, 2 norm keys, head
    ft = {**{"encoder." + k: v for k, v in enc.state_dict().items() if "mask_token" not in k}}
    ft.update({"head." + k: v for k, v in ClassificationHead(C, 7).state_dict().items()})
    model = _Classifier(VisionTransformer3D(**TINY), ClassificationHead(C, 3))
    report = load_pretrained(model, ft, fmt="ours")
    assert not report.problems and any("re-initialised" in n for n in report.ignored)
