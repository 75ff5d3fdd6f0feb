"""Pooling attention, decomposed relative positions and the MViTv2 block."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from videossl.models.mvit_attention import (
    MultiScaleAttention,
    MultiScaleBlock,
    attention_pool,
    rel_pos_bias,
    resize_rel_pos,
)


def _attn(**kw):
    torch.manual_seed(0)
    args = dict(
        input_size=(2, 4, 4),
        num_heads=2,
        stride_q=(1, 2, 2),
        stride_kv=(1, 1, 1),
        num_prefix_tokens=1,
    )
    args.update(kw)
    return MultiScaleAttention(8, 8, **args).eval()


def _naive_pool(x, conv, norm, thw, p):
    """x [B,n,P+N,c] -> pooled, by hand: prefix kept, depthwise conv3d, then LayerNorm."""
    if conv is None:
        return x, thw
    b, n, _, c = x.shape
    grid = x[:, :, p:].reshape(b * n, *thw, c).permute(0, 4, 1, 2, 3)
    out = F.conv3d(grid, conv.weight, None, conv.stride, conv.padding, groups=c)
    new = tuple(out.shape[2:])
    out = out.reshape(b, n, c, -1).transpose(2, 3)
    out = torch.cat((x[:, :, :p], out), dim=2)
    return F.layer_norm(out, (c,), norm.weight, norm.bias, norm.eps), new


def _naive_attention(m, x, thw):
    """Independent reference: explicit loops for the decomposed relative-position term."""
    b, n_tok, _ = x.shape
    nh, p = m.num_heads, m.num_prefix_tokens
    qkv = (x @ m.qkv.weight.t() + m.qkv.bias).reshape(b, n_tok, 3, nh, -1)
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
    q, q_thw = _naive_pool(q, m.pool_q, m.norm_q, thw, p)
    k, k_thw = _naive_pool(k, m.pool_k, m.norm_k, thw, p)
    v, _ = _naive_pool(v, m.pool_v, m.norm_v, thw, p)
    c = q.shape[-1]
    logits = (q @ k.transpose(-2, -1)) * c**-0.5
    tables = (m.rel_pos_t, m.rel_pos_h, m.rel_pos_w)
    q_pos = list(itertools.product(*(range(s) for s in q_thw)))
    k_pos = list(itertools.product(*(range(s) for s in k_thw)))
    for i, qp in enumerate(q_pos):
        for j, kp in enumerate(k_pos):
            for axis in range(3):
                qs, ks = q_thw[axis], k_thw[axis]
                table = resize_rel_pos(tables[axis], 2 * max(qs, ks) - 1)
                qr, kr = max(ks / qs, 1.0), max(qs / ks, 1.0)
                d = int(qp[axis] * qr - kp[axis] * kr + (ks - 1) * kr)
                logits[:, :, p + i, p + j] += q[:, :, p + i] @ table[d]
    out = logits.softmax(-1) @ v
    if m.residual_pooling:
        out[:, :, p:] = out[:, :, p:] + q[:, :, p:]
    out = out.transpose(1, 2).reshape(b, -1, m.dim_out)
    return out @ m.proj.weight.t() + m.proj.bias, q_thw


@pytest.mark.parametrize(
    "kw",
    [
        dict(),  # q pooled 2x: q grid smaller than k grid
        dict(stride_q=(1, 1, 1), stride_kv=(1, 2, 2)),  # k grid smaller than q grid
        dict(num_prefix_tokens=0, residual_pooling=False),
    ],
)
def test_rel_pos_attention_matches_naive_reference(kw):
    m = _attn(**kw)
    p = m.num_prefix_tokens
    x = torch.randn(2, p + 2 * 4 * 4, 8)
    with torch.no_grad():
        out, q_thw = m(x, (2, 4, 4))
        ref, ref_thw = _naive_attention(m, x, (2, 4, 4))
    assert q_thw == ref_thw
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_rel_pos_interpolates_to_another_input_size():
    m = _attn()  # tables sized for a 2x4x4 input
    x = torch.randn(1, 1 + 4 * 6 * 6, 8)
    with torch.no_grad():
        out, q_thw = m(x, (4, 6, 6))
        ref, _ = _naive_attention(m, x, (4, 6, 6))
    assert q_thw == (4, 3, 3)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_resize_rel_pos_keeps_linear_tables_linear():
    table = torch.linspace(0, 1, 7)[:, None].repeat(1, 3)
    out = resize_rel_pos(table, 13)
    assert out.shape == (13, 3)
    assert torch.all(out[1:] >= out[:-1])
    assert resize_rel_pos(table, 7) is table


def test_rel_pos_bias_prefix_rows_and_columns_are_zero():
    q = torch.randn(1, 2, 1 + 8, 4)
    tables = [torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4)]
    bias = rel_pos_bias(q, (2, 2, 2), (2, 2, 2), *tables, num_prefix_tokens=1)
    assert bias.shape == (1, 2, 9, 9)
    assert bias[:, :, 0].abs().sum() == 0 and bias[:, :, :, 0].abs().sum() == 0
    assert bias[:, :, 1:, 1:].abs().sum() > 0


def test_attention_pool_keeps_prefix_tokens():
    x = torch.randn(2, 3, 1 + 2 * 4 * 4, 5)
    pool = torch.nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
    out, thw = attention_pool(x, pool, (2, 4, 4), num_prefix_tokens=1)
    assert thw == (2, 2, 2) and out.shape == (2, 3, 1 + 8, 5)
    assert torch.equal(out[:, :, 0], x[:, :, 0])
    same, same_thw = attention_pool(x, None, (2, 4, 4), 1)
    assert same is x and same_thw == (2, 4, 4)


def test_residual_pooling_changes_the_output():
    x = torch.randn(1, 1 + 32, 8)
    on, _ = _attn(residual_pooling=True)(x, (2, 4, 4))
    off, _ = _attn(residual_pooling=False)(x, (2, 4, 4))
    assert on.shape == off.shape
    assert not torch.allclose(on, off)


@pytest.mark.parametrize("dim_mul_in_att", [True, False])
def test_block_widens_and_pools(dim_mul_in_att):
    blk = MultiScaleBlock(
        8,
        16,
        num_heads=2,
        input_size=(2, 4, 4),
        stride_q=(1, 2, 2),
        stride_kv=(1, 2, 2),
        num_prefix_tokens=1,
        dim_mul_in_att=dim_mul_in_att,
    )
    assert blk.attn.dim_out == (16 if dim_mul_in_att else 8)
    x = torch.randn(2, 1 + 32, 8, requires_grad=True)
    y, thw = blk(x, (2, 4, 4))
    assert thw == (2, 2, 2) and y.shape == (2, 1 + 8, 16)
    y.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_head_count_must_divide_width():
    with pytest.raises(ValueError, match="divisible"):
        MultiScaleAttention(8, 9, input_size=(2, 4, 4), num_heads=2)


class _RecordInput(torch.nn.Module):
    def forward(self, x):
        self.contiguous = x.is_contiguous()
        return x


def test_attention_pool_hands_the_pool_a_contiguous_grid():
    """The permuted token grid is channels-last-3d; the pool must see [B*n,c,t,h,w] contiguous
    (as PySlowFast's attention_pool), the layout whose bf16 CPU Conv3d backward is correct."""
    record = _RecordInput()
    attention_pool(torch.randn(2, 3, 1 + 2 * 4 * 4, 8), record, (2, 4, 4), num_prefix_tokens=1)
    assert record.contiguous


def _depthwise_weight_grad(x, grad_out, kernel, stride):
    """By hand, in float64: d(sum(grad_out * conv(x)))/d(weight) of a depthwise conv3d with
    padding kernel//2. x [N,c,t,h,w], grad_out [N,c,t',h',w'] -> [c,1,kt,kh,kw]."""
    pads = [k // 2 for k in kernel]
    xp = F.pad(x.double(), [p for p in reversed(pads) for _ in range(2)])
    g = grad_out.double()
    out_t, out_h, out_w = g.shape[2:]
    st, sh, sw = stride
    grad = torch.zeros(x.shape[1], 1, *kernel, dtype=torch.float64)
    for a, b, d in itertools.product(*(range(k) for k in kernel)):
        window = xp[:, :, a : a + st * out_t : st, b : b + sh * out_h : sh, d : d + sw * out_w : sw]
        grad[:, 0, a, b, d] = (window * g).sum(dim=(0, 2, 3, 4))
    return grad


@pytest.mark.parametrize("stride", [(1, 1, 1), (1, 2, 2)])
def test_pooling_conv_weight_gradient_is_right_under_bf16_autocast(stride):
    """Regression (issue 12, bf16 MViT MaskFeat runs with gradient norms of 1e+15): with the
    grid left channels-last, oneDNN's bf16 depthwise Conv3d weight gradient on AVX512-bf16 CPUs
    was wrong (off by more than its own size) and read uninitialised memory."""
    torch.manual_seed(0)
    m = _attn(stride_kv=stride, stride_q=(1, 1, 1))
    b, n, c, thw = 4, m.num_heads, 8 // m.num_heads, (2, 4, 4)
    x = torch.randn(b, n, 1 + 32, c)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, out_thw = attention_pool(x, m.pool_k, thw, num_prefix_tokens=1)
    grad_out = torch.randn(b, n, 1 + out_thw[0] * out_thw[1] * out_thw[2], c)
    (out.float() * grad_out).sum().backward()
    # The pooled tokens [B,n,N',c] as the conv's [B*n,c,t',h',w'] output, and its input.
    g = grad_out[:, :, 1:].transpose(2, 3).reshape(b * n, c, *out_thw)
    grid = x[:, :, 1:].bfloat16().float().reshape(b * n, *thw, c).permute(0, 4, 1, 2, 3)
    ref = _depthwise_weight_grad(grid, g, m.pool_k.kernel_size, stride)
    err = (m.pool_k.weight.grad.double() - ref).norm() / ref.norm()
    assert err < 0.02, f"relative error {err:.3g} of the bf16 pooling-conv weight gradient"
