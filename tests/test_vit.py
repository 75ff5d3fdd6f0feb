import pytest
import torch
from timm.optim import param_groups_layer_decay

from videossl.config import get_defaults
from videossl.models.flops import count_params
from videossl.models.registry import ENCODERS
from videossl.models.vit import VisionTransformer3D, vit_b, vit_h, vit_l, vit_s

TINY = dict(img_size=32, num_frames=4, patch_size=8, embed_dim=32, depth=2, num_heads=2)


def tiny(**kw):
    torch.manual_seed(0)
    return VisionTransformer3D(**{**TINY, **kw})


def _x(b=2):
    return torch.randn(b, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("pos", ["sincos", "sincos3d", "learned", "separable"])
@pytest.mark.parametrize("cls", [False, True])
def test_three_modes_forward_backward(pos, cls):
    m = tiny(pos_embed=pos, cls_token=cls, use_mask_token=True, qkv_bias="qv")
    x = _x()
    mask = torch.zeros(2, 2, 4, 4, dtype=torch.bool)
    mask[:, :, :, :3] = True
    mask = mask.flatten(1)  # [B,N] over the input grid
    P = int(cls)
    out_all, out_mask, out_vis = m(x), m(x, mask=mask), m.forward_visible(x, mask)
    assert out_all.shape == (2, P + 32, 32) and out_mask.shape == out_all.shape
    assert out_vis.shape == (2, P + 8, 32)
    (out_all.sum() + out_mask.pow(2).sum() + out_vis.pow(2).sum()).backward()
    grads = [p.grad for p in m.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert m.mask_token.grad.abs().sum() > 0


def test_mask_token_replaces_only_masked_tokens():
    m = tiny(use_mask_token=True, depth=0)
    m.norm = torch.nn.Identity()
    x = _x()
    mask = torch.zeros(2, 2, 4, 4, dtype=torch.bool)
    mask[0, 1, 2, 3] = True
    mask = mask.flatten(1)  # the encoders' one mask form: [B,N] over the input grid
    a, b = m(x), m(x, mask=mask)
    diff = (a - b).abs().sum(-1) > 0
    assert diff[0, 1 * 16 + 2 * 4 + 3] and diff.sum() == 1
    with pytest.raises(ValueError, match="use_mask_token"):
        tiny()(x, mask=mask)


def test_encoder_takes_one_mask_form():
    m = tiny(use_mask_token=True)
    with pytest.raises(ValueError, match=r"\[B,N\]"):  # a unit-grid mask is the objective's
        m(_x(), mask=torch.zeros(2, 1, 1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="input grid"):
        m.forward_visible(_x(), torch.zeros(2, 31, dtype=torch.bool))


def test_forward_visible_equals_blocks_on_subset_by_hand():
    m = tiny(cls_token=True, pos_embed="learned").eval()
    x = _x()
    mask = torch.rand(2, 32, generator=torch.Generator().manual_seed(3)).argsort(1) < 24
    tokens = m.patch_embed(x) + m.pos_embed[:, 1:]
    vis = tokens[~mask].reshape(2, 8, 32)
    h = torch.cat([(m.cls_token + m.pos_embed[:, :1]).expand(2, -1, -1), vis], 1)
    for blk in m.blocks:
        h = blk(h)
    torch.testing.assert_close(m.forward_visible(x, mask), m.norm(h))


def test_forward_visible_rejects_unequal_counts():
    mask = torch.zeros(2, 32, dtype=torch.bool)
    mask[0, :3] = True
    with pytest.raises(ValueError, match="same number of visible"):
        tiny().forward_visible(_x(), mask)


def test_grad_checkpointing_same_gradients():
    x = _x()
    grads = []
    for ckpt in (False, True):
        m = tiny()
        m.set_grad_checkpointing(ckpt)
        m(x).pow(2).mean().backward()
        grads.append([p.grad.clone() for p in m.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_learned_and_separable_interpolate_to_other_grids():
    for pos in ("learned", "separable"):
        m = tiny(pos_embed=pos, cls_token=True)
        out = m(torch.randn(1, 3, 8, 48, 40))
        assert out.shape == (1, 1 + 4 * 6 * 5, 32)
    assert tiny().output_grid(8, 48, 40) == (4, 6, 5)


def test_no_weight_decay_and_layer_decay_groups():
    m = tiny(cls_token=True, pos_embed="separable", use_mask_token=True)
    assert m.no_weight_decay() == {
        "cls_token",
        "mask_token",
        "pos_embed_spatial",
        "pos_embed_temporal",
        "pos_embed_class",
    }
    groups = param_groups_layer_decay(
        m, weight_decay=0.05, no_weight_decay_list=m.no_weight_decay(), layer_decay=0.5
    )
    scales = sorted({g["lr_scale"] for g in groups})
    assert scales == [0.25, 0.5, 1.0]  # stem, block 0, block 1 (+ final norm, as timm's ViT)
    stem = next(g for g in groups if g["lr_scale"] == 0.25 and g["weight_decay"] == 0.05)
    assert len(stem["params"]) == 1  # patch_embed.proj.weight; bias and tokens lack decay


def _published(fn):
    with torch.device("meta"):
        enc = fn(pos_embed="separable")
    return count_params(enc) + enc.embed_dim * 400 + 400 + 2 * enc.embed_dim  # fc_norm + head


@pytest.mark.parametrize(
    "fn,params", [(vit_s, 22.1e6), (vit_b, 86.7e6), (vit_l, 304.5e6), (vit_h, 632.4e6)]
)
def test_preset_params_match_reference(fn, params):
    # docs/reference.md §1 counts MAE-ST's separable learned position embeddings (196 + 8
    # rows) and a 400-way head with fc_norm; VideoMAE's fixed sin-cos table is not a parameter.
    assert abs(_published(fn) - params) < 0.1e6
    with torch.device("meta"):
        sincos = fn()
    extra = _published(fn) - count_params(sincos) - 402 * sincos.embed_dim - 400
    assert extra == 204 * sincos.embed_dim  # 196 spatial + 8 temporal rows


def test_build_vit_from_config():
    cfg = get_defaults()
    cfg.VIT.PRESET = "custom"
    cfg.VIT.EMBED_DIM, cfg.VIT.DEPTH, cfg.VIT.NUM_HEADS, cfg.VIT.PATCH_SIZE = 32, 1, 2, 8
    cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE = 4, 32
    cfg.MODEL.ACT_CHECKPOINT = True
    cfg.MODEL.OBJECTIVE = "classification"  # ignored: the switches are keyword arguments
    m = ENCODERS.get("vit")(cfg, mask_token=True)
    assert m.mask_token is not None and m.grad_checkpointing and len(m.blocks) == 1
    assert not isinstance(m.norm, torch.nn.Identity)
    assert ENCODERS.get("vit")(cfg).mask_token is None
    assert isinstance(ENCODERS.get("vit")(cfg, final_norm=False).norm, torch.nn.Identity)
    cfg.VIT.PRESET = "X"
    with pytest.raises(ValueError, match="VIT.PRESET"):
        ENCODERS.get("vit")(cfg)
