"""videossl.features: pooling, multi-view averaging, deduplication, per-clip arrays, files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from videossl.features import (
    average_views,
    deduplicate_views,
    extract_clip_features,
    per_clip_array,
    pool_tokens,
    save_features,
)


def test_pool_tokens_mean_skips_prefix_and_cls_takes_first():
    tokens = torch.tensor([[[9.0, 9.0], [1.0, 2.0], [3.0, 6.0]]])  # [1,1+2,2]
    assert pool_tokens(tokens, "mean", 1).tolist() == [[2.0, 4.0]]
    assert torch.allclose(pool_tokens(tokens, "mean", 0), torch.tensor([[13 / 3, 17 / 3]]))
    assert pool_tokens(tokens, "cls", 1).tolist() == [[9.0, 9.0]]
    with pytest.raises(ValueError, match="cls token"):
        pool_tokens(tokens, "cls", 0)
    with pytest.raises(ValueError, match="pool"):
        pool_tokens(tokens, "max", 0)


def test_average_views_hand_computed_with_invalid_view():
    feats = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0], [7.0, 1.0]])
    index = torch.tensor([0, 0, 1, 2])
    valid = torch.tensor([True, True, True, False])
    means, counts = average_views(feats, index, 4, valid)
    assert means.tolist() == [[2.0, 1.0], [5.0, 5.0], [0.0, 0.0], [0.0, 0.0]]
    assert counts.tolist() == [2, 1, 0, 0]
    with pytest.raises(ValueError, match="out of range"):
        average_views(feats, torch.tensor([0, 0, 1, 4]), 4)


def test_deduplicate_views_drops_padded_repeats():
    clips = {
        "features": torch.arange(10.0).reshape(5, 2),
        "index": torch.tensor([0, 0, 1, 0, 1]),
        "view": torch.tensor([0, 1, 0, 0, 0]),
        "valid": torch.ones(5, dtype=torch.bool),
    }
    out = deduplicate_views(clips)
    assert out["index"].tolist() == [0, 0, 1] and out["view"].tolist() == [0, 1, 0]
    assert out["features"][:, 0].tolist() == [0.0, 2.0, 4.0]


def test_per_clip_array_places_views_and_marks_invalid():
    clips = {
        "features": torch.tensor([[1.0], [2.0], [3.0]]),
        "index": torch.tensor([1, 0, 1]),
        "view": torch.tensor([1, 0, 0]),
        "valid": torch.tensor([True, True, False]),
    }
    arr, ok = per_clip_array(clips, num_videos=2, views_per_video=2)
    assert arr[:, :, 0].tolist() == [[2.0, 0.0], [0.0, 1.0]]
    assert ok.tolist() == [[True, False], [False, True]]


class _Tokens(nn.Module):
    """A fake encoder: tokens whose mean over patches is the mean of the clip per channel."""

    num_prefix_tokens = 1

    def forward(self, x):
        b = x.shape[0]
        per_channel = x.flatten(2).mean(-1)  # [B,3]
        cls = torch.full((b, 1, 3), -1.0)
        return torch.cat([cls, per_channel[:, None].expand(b, 4, 3)], 1)


def test_extract_clip_features_order_and_values():
    video = torch.arange(2 * 3 * 2 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2, 2)
    batches = [
        {
            "video": video,
            "index": torch.tensor([0, 1]),
            "view": torch.tensor([0, 0]),
            "valid": torch.tensor([True, True]),
        },
        {
            "video": video[:1] + 1,
            "index": torch.tensor([0]),
            "view": torch.tensor([1]),
            "valid": torch.tensor([True]),
        },
    ]
    out = extract_clip_features(_Tokens(), batches, pool="mean")
    expected = video.flatten(2).mean(-1)
    assert torch.allclose(out["features"][:2], expected)
    assert torch.allclose(out["features"][2], expected[0] + 1)
    assert out["index"].tolist() == [0, 1, 0] and out["view"].tolist() == [0, 0, 1]
    cls = extract_clip_features(_Tokens(), batches[:1], pool="cls")["features"]
    assert cls.tolist() == [[-1.0] * 3] * 2
    with pytest.raises(ValueError, match="no batches"):
        extract_clip_features(_Tokens(), [], pool="mean")


def test_save_features_round_trip(tmp_path):
    feats = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    written = save_features(
        str(tmp_path),
        feats,
        [2, 0, 1],
        ["a.mp4", "b.mp4", "c d.mp4"],
        clip_features=np.zeros((3, 2, 4)),
        clip_valid=np.ones((3, 2)),
    )
    assert np.array_equal(np.load(written["features"]), feats)
    assert np.load(written["labels"]).tolist() == [2, 0, 1]
    assert open(written["paths"]).read().splitlines() == ["a.mp4", "b.mp4", "c d.mp4"]
    assert np.load(written["clip_features"]).shape == (3, 2, 4)
    assert np.load(written["clip_valid"]).dtype == bool
    with pytest.raises(ValueError, match="one entry per video"):
        save_features(str(tmp_path), feats, [0, 1], ["a", "b", "c"])
