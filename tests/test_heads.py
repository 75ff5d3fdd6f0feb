import pytest
import torch

from videossl.models.heads import ClassificationHead, MaskFeatHead


def test_mean_pooling_skips_prefix_and_applies_fc_norm():
    head = ClassificationHead(8, 5, num_prefix_tokens=1)
    x = torch.randn(2, 5, 8)
    expected = head.fc(head.fc_norm(x[:, 1:].mean(1)))
    torch.testing.assert_close(head(x), expected)
    x2 = x.clone()
    x2[:, 0] += 100.0  # the cls token does not matter for mean pooling
    torch.testing.assert_close(head(x2), head(x))


def test_cls_pooling_uses_token_zero():
    head = ClassificationHead(8, 5, pool="cls", num_prefix_tokens=1, fc_norm=False)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(head(x), head.fc(x[:, 0]))
    with pytest.raises(ValueError, match="cls token"):
        ClassificationHead(8, 5, pool="cls")


def test_init_scale_and_dropout():
    torch.manual_seed(0)
    a = ClassificationHead(64, 10, init_scale=1.0)
    torch.manual_seed(0)
    b = ClassificationHead(64, 10, init_scale=0.001)
    torch.testing.assert_close(b.fc.weight, a.fc.weight * 0.001)
    head = ClassificationHead(8, 3, dropout=0.5).eval()
    x = torch.randn(4, 6, 8)
    torch.testing.assert_close(head(x), head(x))


def test_maskfeat_head_single_and_multi_target():
    x = torch.randn(2, 7, 16)
    single = MaskFeatHead(16, 108)
    y = single(x)
    assert y.shape == (2, 7, 108)
    torch.testing.assert_close(y, single.proj(single.norm(x)))
    multi = MaskFeatHead(16, {"hog": 108, "pixel": 1536})
    out = multi(x)
    assert set(out) == {"hog", "pixel"}
    assert out["hog"].shape == (2, 7, 108) and out["pixel"].shape == (2, 7, 1536)
    out["pixel"].sum().backward()
    assert multi.projs["hog"].weight.grad is None and multi.norm.weight.grad is not None
