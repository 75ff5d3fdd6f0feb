"""RoI head: token layout, features taken from the boxed place, per-sample boxes."""

import pytest
import torch

from videossl.models.roi_head import AVARoIHead, pool_boxes, tokens_to_map

STRIDE = 16


def map_to_tokens(feature, prefix=0):
    """[B,C,t,h,w] -> [B,P+t*h*w,C] (inverse of the encoder layout)."""
    b, c = feature.shape[:2]
    tokens = feature.permute(0, 2, 3, 4, 1).reshape(b, -1, c)
    return torch.cat([torch.full((b, prefix, c), 99.0), tokens], dim=1)


def bright_map(batch=1, bright_sample=0):
    """C=2, t=2, h=w=8: channel 0 is 1 at rows 2..3, cols 5..6 in frame 0 of one sample;
    channel 1 is 1 everywhere in both frames."""
    f = torch.zeros(batch, 2, 2, 8, 8)
    f[bright_sample, 0, 0, 2:4, 5:7] = 1.0
    f[:, 1] = 1.0
    return f


def identity_head(prefix=0):
    head = AVARoIHead(2, 2, num_prefix_tokens=prefix, dropout=0.0).eval()
    with torch.no_grad():
        head.proj.weight.copy_(torch.eye(2))
        head.proj.bias.zero_()
    return head


def test_tokens_to_map_round_trip():
    f = torch.randn(2, 3, 2, 4, 5)
    assert torch.equal(tokens_to_map(map_to_tokens(f, prefix=1), (2, 4, 5), 1), f)
    with pytest.raises(ValueError, match="do not fill the grid"):
        tokens_to_map(map_to_tokens(f), (2, 4, 4))


def test_features_come_from_the_box():
    head = identity_head(prefix=1)
    tokens = map_to_tokens(bright_map(), prefix=1)
    # cells 5..6 (x) and 2..3 (y) of the 8x8 map are pixels 80..112 x 32..64 of a 128² input
    boxes = torch.tensor(
        [
            [0, 80.0, 32.0, 112.0, 64.0],  # on the bright region
            [0, 0.0, 80.0, 40.0, 128.0],  # far from it
            [0, 70.0, 20.0, 128.0, 70.0],  # contains it
        ]
    )
    out = head(tokens, (2, 8, 8), boxes, (128, 128))
    assert out.shape == (3, 2)
    # channel 0: bright in one of two frames -> temporal mean 0.5, then max over the window
    assert out[0, 0].item() == pytest.approx(0.5, abs=1e-5)
    assert out[1, 0].item() == pytest.approx(0.0, abs=1e-6)
    assert out[2, 0].item() == pytest.approx(0.5, abs=1e-5)
    assert torch.allclose(out[:, 1], torch.ones(3))


def test_boxes_use_their_own_sample():
    f = bright_map(batch=2, bright_sample=1)
    box = [80.0, 32.0, 112.0, 64.0]
    boxes = torch.tensor([[0, *box], [1, *box]])
    out = identity_head()(map_to_tokens(f), (2, 8, 8), boxes, (128, 128))
    assert out[0, 0].item() == pytest.approx(0.0, abs=1e-6)
    assert out[1, 0].item() == pytest.approx(0.5, abs=1e-5)


def test_spatial_scale_follows_stride():
    # a stride-32 map (MViTv2 last stage): same region in input pixels is half the cells
    f = torch.zeros(1, 1, 4, 4)
    f[0, 0, 1, 2] = 1.0  # pixels x 64..96, y 32..64 at stride 32
    hit = pool_boxes(f, torch.tensor([[0, 64.0, 32.0, 96.0, 64.0]]), spatial_scale=1 / 32)
    miss = pool_boxes(f, torch.tensor([[0, 0.0, 64.0, 32.0, 128.0]]), spatial_scale=1 / 32)
    assert hit.item() == pytest.approx(1.0, abs=1e-5)
    assert miss.item() == pytest.approx(0.0, abs=1e-6)


def test_backward_and_unequal_strides():
    head = AVARoIHead(4, 80, dropout=0.5)
    tokens = torch.randn(2, 2 * 4 * 4, 4, requires_grad=True)
    boxes = torch.tensor([[0, 1.0, 2.0, 30.0, 40.0], [1, 0.0, 0.0, 64.0, 64.0]])
    out = head(tokens, (2, 4, 4), boxes, (64, 64))
    assert out.shape == (2, 80)
    out.sum().backward()
    assert tokens.grad is not None and tokens.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="different spatial strides"):
        head(tokens, (2, 4, 4), boxes, (64, 128))
