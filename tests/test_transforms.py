import pytest
import torch

from videossl.data.transforms import (
    normalize,
    parse_rand_augment,
    spatial_crop_box,
    train_transform,
)
from videossl.data.transforms import (
    test_view as make_test_view,
)

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def constant_frames(t=4, h=24, w=32):
    """Every frame identical, with a horizontal gradient (so crops and flips are visible)."""
    row = torch.linspace(0, 255, w).to(torch.uint8)
    frame = row.view(1, w, 1).expand(h, w, 3)
    return frame.unsqueeze(0).expand(t, h, w, 3).contiguous()


def test_normalize_values_and_layout():
    x = torch.full((2, 3, 4, 5), 255, dtype=torch.uint8)
    x[:, 1] = 0
    y = normalize(x, MEAN, STD)
    assert y.shape == (3, 2, 4, 5) and y.dtype == torch.float32
    assert torch.allclose(y[0], torch.tensor(2.0)) and torch.allclose(y[1], torch.tensor(-2.0))


@pytest.mark.parametrize("rrc", [True, False])
def test_train_transform_same_params_for_all_frames(rrc):
    torch.manual_seed(0)
    tf = train_transform(
        crop_size=16, random_resized_crop=rrc, jitter_scales=(24, 32), mean=MEAN, std=STD
    )
    outs = [tf(constant_frames()) for _ in range(8)]
    for out in outs:
        assert out.shape == (3, 4, 16, 16)
        for t in range(1, 4):
            assert torch.equal(out[:, t], out[:, 0])
    assert any(not torch.equal(outs[0], o) for o in outs[1:])  # random across calls


def test_flip_is_configurable():
    torch.manual_seed(0)
    frames = constant_frames(h=16, w=16)
    no_flip = train_transform(
        crop_size=16, area_range=(1.0, 1.0), aspect_range=(1.0, 1.0), flip=False
    )
    for _ in range(10):  # gradient stays left-to-right increasing
        out = no_flip(frames)
        assert out[0, 0, 0, -1] > out[0, 0, 0, 0]
    flip = train_transform(crop_size=16, area_range=(1.0, 1.0), aspect_range=(1.0, 1.0), flip=True)
    directions = {bool(flip(frames)[0, 0, 0, -1] > flip(frames)[0, 0, 0, 0]) for _ in range(20)}
    assert directions == {True, False}


def test_rand_augment_and_erasing_run_per_clip():
    assert parse_rand_augment("rand-m7-n4-mstd0.5-inc1") == {
        "magnitude": 7.0,
        "num_ops": 4,
        "mstd": 0.5,
    }
    with pytest.raises(ValueError):
        parse_rand_augment("auto-m7")
    with pytest.raises(ValueError):
        parse_rand_augment("rand-q7")
    torch.manual_seed(0)
    tf = train_transform(crop_size=16, rand_augment="rand-m9-n2-mstd0.5", random_erasing=1.0)
    out = tf(constant_frames())
    assert out.shape == (3, 4, 16, 16)
    for t in range(1, 4):
        assert torch.equal(out[:, t], out[:, 0])


def test_spatial_crop_boxes():
    assert spatial_crop_box(24, 32, 0, 3) == (0, 0, 24)
    assert spatial_crop_box(24, 32, 1, 3) == (0, 4, 24)
    assert spatial_crop_box(24, 32, 2, 3) == (0, 8, 24)
    assert spatial_crop_box(32, 24, 2, 3) == (8, 0, 24)
    assert spatial_crop_box(24, 32, 0, 1) == (0, 4, 24)


def test_test_view_crops_along_long_side():
    frames = torch.zeros(2, 16, 48, 3, dtype=torch.uint8)
    frames[:, :, :16] = 50  # left third
    frames[:, :, 16:32] = 150  # centre third
    frames[:, :, 32:] = 250  # right third
    means = []
    for idx in range(3):
        view = make_test_view(
            frames, crop_size=8, spatial_idx=idx, num_crops=3, mean=(0,) * 3, std=(1,) * 3
        )
        assert view.shape == (3, 2, 8, 8)
        means.append(round(float(view.mean()) * 255))
    assert means == [50, 150, 250]
