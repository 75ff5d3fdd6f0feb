"""Tests for videossl.targets.losses."""

import pytest
import torch

from videossl.targets.losses import combine_losses, masked_mse


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(2, 6, 4, generator=g)
    target = torch.randn(2, 6, 4, generator=g)
    mask = torch.tensor([[1, 0, 1, 0, 0, 1], [0, 1, 1, 0, 1, 0]], dtype=torch.bool)
    return pred, target, mask


def test_value_and_unmasked_ignored():
    pred, target, mask = _data()
    loss = masked_mse(pred, target, mask)
    expected = ((pred - target) ** 2)[mask].mean()
    torch.testing.assert_close(loss, expected)
    changed = pred.clone()
    changed[~mask] += 100.0
    torch.testing.assert_close(masked_mse(changed, target, mask), loss)
    changed[mask] += 1.0
    assert masked_mse(changed, target, mask) > loss


def test_pred_for_masked_tokens_only():
    pred, target, mask = _data()
    full = masked_mse(pred, target, mask)
    torch.testing.assert_close(masked_mse(pred[mask].view(2, 3, 4), target, mask), full)
    torch.testing.assert_close(masked_mse(pred[mask], target, mask), full)
    with pytest.raises(ValueError, match="masked tokens"):
        masked_mse(pred[:, :2], target, mask)


def test_gradient_only_on_masked_and_empty_mask():
    pred, target, mask = _data()
    pred.requires_grad_(True)
    masked_mse(pred, target, mask).backward()
    assert (pred.grad[~mask] == 0).all() and (pred.grad[mask] != 0).any()
    empty = masked_mse(pred, target, torch.zeros_like(mask))
    assert empty.item() == 0.0 and empty.requires_grad


def test_low_precision_pred_computed_in_float32():
    pred, target, mask = _data()
    loss = masked_mse(pred.bfloat16(), target, mask)
    assert loss.dtype == torch.float32


def test_combine_losses_weights():
    out = combine_losses({"hog": (torch.tensor(2.0), 1.0), "pixel": (torch.tensor(3.0), 0.5)})
    assert set(out) == {"loss_hog", "loss_pixel"}
    assert out["loss_hog"].item() == 2.0 and out["loss_pixel"].item() == 1.5
