import pytest
import torch

from videossl.models.flops import count_gflops, count_params, model_report
from videossl.models.vit import VisionTransformer3D, vit_b, vit_h, vit_l, vit_s


def _analytic(C, depth, N, patch_in, mlp=4):
    per_block = N * C * 3 * C + N * N * C * 2 + N * C * C + 2 * N * C * mlp * C
    norms = (2 * depth + 1) * N * C * 5  # fvcore: layer norm = 5 per element (affine)
    return (N * patch_in * C + depth * per_block + norms) / 1e9


def test_tiny_vit_flops_match_formula():
    m = VisionTransformer3D(
        img_size=32, num_frames=4, patch_size=8, embed_dim=32, depth=2, num_heads=2
    )
    gflops = count_gflops(m, (1, 3, 4, 32, 32))
    N = 2 * 4 * 4
    assert gflops == pytest.approx(_analytic(32, 2, N, 3 * 2 * 8 * 8), rel=0.01)
    # batch size does not change the per-view count; the meta copy leaves weights untouched
    assert count_gflops(m, (2, 3, 4, 32, 32)) == pytest.approx(gflops)
    assert not m.patch_embed.proj.weight.is_meta


def test_report_table_and_params():
    m = VisionTransformer3D(
        img_size=32, num_frames=4, patch_size=8, embed_dim=32, depth=1, num_heads=2
    )
    params, gflops, table = model_report(m, (1, 3, 4, 32, 32))
    assert params == count_params(m) and gflops > 0
    assert "blocks" in table and "patch_embed" in table


@pytest.mark.parametrize("fn,ref", [(vit_s, 57.0), (vit_b, 180.6)])
def test_published_gflops_s_b(fn, ref):
    with torch.device("meta"):
        m = fn()
    assert count_gflops(m) == pytest.approx(ref, rel=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("fn,ref", [(vit_l, 597.7), (vit_h, 1192.5)])
def test_published_gflops_l_h(fn, ref):
    with torch.device("meta"):
        m = fn()
    assert count_gflops(m) == pytest.approx(ref, rel=0.01)
