"""PySlowFast MViTv2 / MaskFeat checkpoints map onto videossl's MViT."""

import pytest
import torch

from videossl.models.mvit import MViT
from videossl.peers.pyslowfast import (
    convert_pyslowfast,
    convert_pyslowfast_head,
    fit_rel_pos,
    pyslowfast_state,
)


def _round_width(width, multiplier, divisor=1):
    """PySlowFast's round_width (slowfast/models/utils.py)."""
    width *= multiplier
    out = max(divisor, int(width + divisor / 2) // divisor * divisor)
    return int(out + divisor if out < 0.9 * width else out)


def _pyslowfast_layout(
    *, depth, dim_mul, q_stride, embed_dim, heads, thw, cls, dim_mul_in_att, maskfeat
):
    """Shapes of PySlowFast's MViT / MaskMViT state dict, derived the way its builder does
    (DIM_MUL / HEAD_MUL / POOL_Q_STRIDE lists, POOL_KV_STRIDE_ADAPTIVE [1,8,8], 3x3x3 kernels,
    QKV_BIAS, REL_POS_SPATIAL/TEMPORAL), independently of videossl's block plan."""
    g = torch.Generator().manual_seed(0)
    shapes = {
        "patch_embed.proj.weight": (embed_dim, 3, 3, 7, 7),
        "patch_embed.proj.bias": (embed_dim,),
    }
    if cls:
        shapes["cls_token"] = (1, 1, embed_dim)
    mul = [1.0] * (depth + 1)
    for i, m in dim_mul:
        mul[i] = m
    strides = [list(q_stride.get(i, (1, 1, 1))) for i in range(depth)]
    kv, size, dim = [1, 8, 8], list(thw), embed_dim
    for i in range(depth):
        heads = _round_width(heads, mul[i])
        if dim_mul_in_att:
            dim_out = _round_width(dim, mul[i], divisor=_round_width(heads, mul[i]))
        else:
            dim_out = _round_width(dim, mul[i + 1], divisor=_round_width(heads, mul[i + 1]))
        kv = [max(k // s, 1) for k, s in zip(kv, strides[i])]
        att = dim_out if dim_mul_in_att else dim
        hd = att // heads
        b = f"blocks.{i}."
        shapes.update({
            b + "norm1.weight": (dim,), b + "norm1.bias": (dim,),
            b + "attn.qkv.weight": (3 * att, dim), b + "attn.qkv.bias": (3 * att,),
            b + "attn.proj.weight": (att, att), b + "attn.proj.bias": (att,),
            b + "norm2.weight": (att,), b + "norm2.bias": (att,),
            b + "mlp.fc1.weight": (4 * att, att), b + "mlp.fc1.bias": (4 * att,),
            b + "mlp.fc2.weight": (dim_out, 4 * att), b + "mlp.fc2.bias": (dim_out,),
        })  # fmt: skip
        for n in "qkv":
            shapes[b + f"attn.pool_{n}.weight"] = (hd, 1, 3, 3, 3)
            shapes[b + f"attn.norm_{n}.weight"] = (hd,)
            shapes[b + f"attn.norm_{n}.bias"] = (hd,)
        sp = 2 * max(size[1] // strides[i][1], size[1] // kv[1]) - 1
        shapes[b + "attn.rel_pos_h"] = shapes[b + "attn.rel_pos_w"] = (sp, hd)
        shapes[b + "attn.rel_pos_t"] = (2 * size[0] - 1, hd)
        if dim != dim_out:
            shapes[b + "proj.weight"], shapes[b + "proj.bias"] = (dim_out, dim), (dim_out,)
        size = [n // s for n, s in zip(size, strides[i])]
        dim = dim_out
    if maskfeat:  # MaskMViT: norm deleted, HOG head = LayerNorm + Linear, mask token
        shapes["mask_token"] = (1, 1, embed_dim)
        shapes["pred_head.transforms.0.0.weight"] = shapes["pred_head.transforms.0.0.bias"] = (dim,)
        shapes["pred_head.projections.0.weight"] = (108, dim)
        shapes["pred_head.projections.0.bias"] = (108,)
    else:
        shapes["norm.weight"] = shapes["norm.bias"] = (dim,)
        shapes["head.projection.weight"], shapes["head.projection.bias"] = (400, dim), (400,)
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}


TINY = dict(depth=3, dim_mul=[(1, 2.0)], embed_dim=8, heads=1, thw=(2, 8, 8), cls=True)
OURS = dict(embed_dim=8, num_heads=1, depths=(1, 2), num_frames=4, img_size=32)


@pytest.mark.parametrize("dim_mul_in_att", [True, False])
@pytest.mark.parametrize("maskfeat", [False, True])
def test_every_key_maps_onto_our_mvit(dim_mul_in_att, maskfeat):
    q_stride = {} if maskfeat else {1: (1, 2, 2)}  # MaskFeat drops the last stage's Q pooling
    state = _pyslowfast_layout(
        **TINY, q_stride=q_stride, dim_mul_in_att=dim_mul_in_att, maskfeat=maskfeat
    )
    model = MViT(
        **OURS, dim_mul_in_att=dim_mul_in_att, mask_token=maskfeat, pool_last_stage=not maskfeat
    )
    ours = convert_pyslowfast({"model_state": state, "epoch": 3})
    ref = model.state_dict()
    assert set(ours) == set(ref)
    for key, value in ours.items():
        assert value.shape == ref[key].shape, key
    model.load_state_dict(ours, strict=True)
    assert torch.equal(model.blocks[0].attn.qkv.weight, state["blocks.0.attn.qkv.weight"])
    if maskfeat:
        assert torch.equal(model.norm.weight, state["pred_head.transforms.0.0.weight"])
        assert torch.equal(model.mask_token, state["mask_token"])
    kind, head = convert_pyslowfast_head({"model_state": state})
    assert kind == ("maskfeat" if maskfeat else "classification")
    src = "pred_head.projections.0" if maskfeat else "head.projection"
    assert torch.equal(head["weight"], state[f"{src}.weight"])


def test_wrapper_prefixes_and_separate_qkv_are_handled():
    state = _pyslowfast_layout(**TINY, q_stride={1: (1, 2, 2)}, dim_mul_in_att=True, maskfeat=False)
    qkv = state.pop("blocks.2.attn.qkv.weight")
    (
        state["blocks.2.attn.q.weight"],
        state["blocks.2.attn.k.weight"],
        state["blocks.2.attn.v.weight"],
    ) = qkv.chunk(3)
    wrapped = {}
    for k, v in state.items():
        k = k.replace("blocks.0.", "blocks.0._checkpoint_wrapped_module.")
        wrapped["module." + k] = v
    ours = convert_pyslowfast({"model_state": wrapped})
    assert torch.equal(ours["blocks.2.attn.qkv.weight"], qkv)
    assert "blocks.0.norm1.weight" in ours and not any("module" in k for k in ours)
    MViT(**OURS).load_state_dict(ours, strict=True)


def test_separable_pos_embed_becomes_joint():
    state = _pyslowfast_layout(**TINY, q_stride={1: (1, 2, 2)}, dim_mul_in_att=True, maskfeat=False)
    state["pos_embed_spatial"] = torch.randn(1, 64, 8)
    state["pos_embed_temporal"] = torch.randn(1, 2, 8)
    state["pos_embed_class"] = torch.randn(1, 1, 8)
    ours = convert_pyslowfast({"model_state": state})
    joint = ours["pos_embed"]
    assert joint.shape == (1, 1 + 128, 8)
    expected = state["pos_embed_spatial"][0, 5] + state["pos_embed_temporal"][0, 1]
    torch.testing.assert_close(joint[0, 1 + 64 + 5], expected)
    MViT(**OURS, abs_pos_embed=True).load_state_dict(ours, strict=True)


def test_maskfeat_pretraining_loads_into_finetuning_layout_with_rel_pos_fit():
    state = _pyslowfast_layout(**TINY, q_stride={}, dim_mul_in_att=False, maskfeat=True)
    ours = convert_pyslowfast(state)  # a bare state dict works too
    ours.pop("mask_token")
    model = MViT(**OURS, dim_mul_in_att=False)  # fine-tuning: last stage pooled again
    changed = fit_rel_pos(ours, model.state_dict())
    assert "blocks.2.attn.rel_pos_h" in changed
    missing, unexpected = model.load_state_dict(ours, strict=False)
    assert not missing and not unexpected


def test_not_a_checkpoint_is_a_clear_error():
    with pytest.raises(ValueError, match="model_state"):
        pyslowfast_state({"model_state": [1, 2]})
    with pytest.raises(ValueError, match="no MViT blocks"):
        convert_pyslowfast({"model_state": {"head.projection.weight": torch.zeros(2, 2)}})
    assert convert_pyslowfast_head({"model_state": {}}) == ("none", {})
