import math

import pytest
import torch

from videossl.models.layers import (
    Attention,
    Block,
    resize_1d,
    resize_pos_embed,
    sincos_1d_table,
    sincos_3d_table,
    square_side,
)


def _manual_attention(attn, x, q_bias, k_bias, v_bias):
    B, N, C = x.shape
    h = attn.num_heads
    W = attn.qkv.weight
    q = x @ W[:C].t() + q_bias
    k = x @ W[C : 2 * C].t() + k_bias
    v = x @ W[2 * C :].t() + v_bias

    def split(t):
        return t.reshape(B, N, h, C // h).transpose(1, 2)

    q, k, v = split(q), split(k), split(v)
    a = (q @ k.transpose(-2, -1) / math.sqrt(C // h)).softmax(-1)
    out = (a @ v).transpose(1, 2).reshape(B, N, C)
    return attn.proj(out)


def test_qv_bias_attention_matches_separate_bias_computation():
    torch.manual_seed(0)
    attn = Attention(16, 4, qkv_bias="qv")
    torch.nn.init.normal_(attn.q_bias)
    torch.nn.init.normal_(attn.v_bias)
    x = torch.randn(2, 5, 16)
    ref = _manual_attention(attn, x, attn.q_bias, torch.zeros(16), attn.v_bias)
    torch.testing.assert_close(attn(x), ref, atol=1e-5, rtol=1e-5)


def test_fused_and_none_bias_modes():
    fused = Attention(8, 2, qkv_bias="fused")
    none = Attention(8, 2, qkv_bias="none")
    assert fused.qkv.bias is not None and fused.q_bias is None
    assert none.qkv.bias is None and none.q_bias is None
    with pytest.raises(ValueError, match="qkv_bias"):
        Attention(8, 2, qkv_bias="bad")


def test_block_layer_scale_and_shapes():
    blk = Block(16, 2, layer_scale_init=0.1)
    assert torch.allclose(blk.gamma_1, torch.full((16,), 0.1))
    x = torch.randn(2, 7, 16, requires_grad=True)
    y = blk(x)
    y.sum().backward()
    assert y.shape == x.shape and torch.isfinite(x.grad).all()


def test_sincos_1d_table_formula():
    t = sincos_1d_table(10, 8)
    assert t.shape == (10, 8)
    p, j = 7, 5  # odd channel: cos(p / 10000^(2*2/8))
    assert t[p, j].item() == pytest.approx(math.cos(p / 10000 ** (4 / 8)), abs=1e-6)
    assert t[p, 4].item() == pytest.approx(math.sin(p / 10000 ** (4 / 8)), abs=1e-6)


def test_sincos_3d_distinct_rows():
    t = sincos_3d_table((2, 3, 4), 32)
    assert t.shape == (24, 32)
    assert torch.unique(t, dim=0).shape[0] == 24


def test_resize_pos_embed_grid_and_identity():
    pe = torch.randn(8 * 14 * 14, 6)
    out = resize_pos_embed(pe, (8, 14, 14), (16, 16, 16))
    assert out.shape == (16 * 16 * 16, 6)
    torch.testing.assert_close(resize_pos_embed(pe, (8, 14, 14), (8, 14, 14)), pe)
    const = torch.ones(2 * 3 * 3, 4)
    torch.testing.assert_close(resize_pos_embed(const, (2, 3, 3), (4, 5, 5)), torch.ones(100, 4))
    with pytest.raises(ValueError, match="grid"):
        resize_pos_embed(pe, (8, 14, 13), (8, 14, 14))


def test_resize_1d_linear():
    table = torch.arange(4.0)[:, None].repeat(1, 3)
    out = resize_1d(table, 8)
    assert out.shape == (8, 3)
    assert (out[1:, 0] >= out[:-1, 0]).all() and out[0, 0] == 0 and out[-1, 0] == 3
    assert resize_1d(table, 4) is table


def test_square_side():
    assert square_side(196) == 14
    with pytest.raises(ValueError):
        square_side(200)
