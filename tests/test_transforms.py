import pickle

import pytest
import torch

from videossl.data.transforms import (
    TrainTransform,
    parse_rand_augment,
    random_resized_crop_params,
    spatial_crop_box,
    train_transform,
)
from videossl.data.transforms import (
    test_view as make_test_view,
)


def constant_frames(t=4, h=24, w=32):
    """Every frame identical, with a horizontal gradient (so crops and flips are visible)."""
    row = torch.linspace(0, 255, w).to(torch.uint8)
    frame = row.view(1, w, 1).expand(h, w, 3)
    return frame.unsqueeze(0).expand(t, h, w, 3).contiguous()


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("rrc", [True, False])
def test_train_transform_uint8_same_params_for_all_frames(rrc):
    tf = train_transform(crop_size=16, random_resized_crop=rrc, jitter_scales=(24, 32))
    outs = [tf(constant_frames(), gen(s)) for s in range(8)]
    for out in outs:
        assert out.shape == (3, 4, 16, 16) and out.dtype == torch.uint8  # pixels, not normalised
        assert out.is_contiguous()
        for t in range(1, 4):
            assert torch.equal(out[:, t], out[:, 0])
    assert any(not torch.equal(outs[0], o) for o in outs[1:])  # random across seeds


def test_every_draw_comes_from_the_generator():
    tf = TrainTransform(
        crop_size=16, rand_augment="rand-m9-n2-mstd0.5", random_erasing=0.5, flip=True
    )
    frames = constant_frames()
    torch.manual_seed(0)
    a = tf(frames, gen(5))
    torch.manual_seed(1)  # the global RNG does not matter
    b = tf(frames, gen(5))
    assert torch.equal(a, b)
    state = torch.get_rng_state()
    tf(frames, gen(6))
    assert torch.equal(state, torch.get_rng_state())  # nor is it advanced
    assert any(not torch.equal(a, tf(frames, gen(s))) for s in range(6, 12))


def test_random_resized_crop_params_match_torchvision_algorithm():
    """Same distribution as torchvision's RandomResizedCrop: every box is inside the frame, its
    area fraction and aspect lie in the ranges, and the fallback is the central crop."""
    for s in range(50):
        top, left, h, w = random_resized_crop_params(60, 80, (0.3, 1.0), (0.75, 1.333), gen(s))
        assert 0 <= top <= 60 - h and 0 <= left <= 80 - w
        assert 0.3 * 4800 * 0.9 <= h * w <= 4800 and 0.7 <= w / h <= 1.4
    # Impossible ranges (aspect 10) always fall back to the central crop clamped to the ratio.
    assert random_resized_crop_params(60, 80, (0.99, 1.0), (10.0, 11.0), gen(0)) == (26, 0, 8, 80)


def test_flip_is_configurable():
    frames = constant_frames(h=16, w=16)
    no_flip = train_transform(
        crop_size=16, area_range=(1.0, 1.0), aspect_range=(1.0, 1.0), flip=False
    )
    for s in range(10):  # gradient stays left-to-right increasing
        out = no_flip(frames, gen(s))
        assert out[0, 0, 0, -1] > out[0, 0, 0, 0]
    flip = train_transform(crop_size=16, area_range=(1.0, 1.0), aspect_range=(1.0, 1.0), flip=True)
    directions = set()
    for s in range(20):
        out = flip(frames, gen(s))
        directions.add(bool(out[0, 0, 0, -1] > out[0, 0, 0, 0]))
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
    tf = train_transform(crop_size=16, rand_augment="rand-m9-n2-mstd0.5", random_erasing=1.0)
    out = tf(constant_frames(), gen(0))
    assert out.shape == (3, 4, 16, 16) and out.dtype == torch.uint8
    for t in range(1, 4):
        assert torch.equal(out[:, t], out[:, 0])


def test_random_erasing_fills_a_box_with_the_fill_colour_on_uint8():
    frames = torch.zeros(2, 32, 32, 3, dtype=torch.uint8)
    tf = TrainTransform(
        crop_size=32,
        area_range=(1.0, 1.0),
        aspect_range=(1.0, 1.0),
        flip=False,
        random_erasing=1.0,
        erase_fill=(115, 20, 200),
    )
    erased = 0
    for s in range(10):
        out = tf(frames, gen(s))
        box = out[0, 0] == 115
        if box.any():
            erased += 1
            ys, xs = box.nonzero(as_tuple=True)
            rows, cols = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
            assert int(box.sum()) == rows * cols  # one rectangle
            assert 0.02 * 1024 * 0.8 <= rows * cols <= 0.33 * 1024 * 1.2
            assert (out[1][:, box] == 20).all() and (out[2][:, box] == 200).all()
            assert (out[:, 1][:, box] == out[:, 0][:, box]).all()  # same box on every frame
            assert (out[0, 0][~box] == 0).all()
    assert erased >= 8  # p = 1: (nearly) always a box


def test_transforms_and_collates_pickle():
    """Spawned loader workers receive the transform and the collate by pickling."""
    from videossl.data.build import MaskingCollate, collate
    from videossl.masking import Masker

    tf = TrainTransform(crop_size=16, rand_augment="rand-m9-n2-mstd0.5", random_erasing=0.25)
    frames = constant_frames()
    back = pickle.loads(pickle.dumps(tf))
    assert torch.equal(back(frames, gen(3)), tf(frames, gen(3)))
    masking = MaskingCollate(Masker("random", 0.5, (2, 8, 8)))
    for fn in (collate, masking, make_test_view):
        assert pickle.loads(pickle.dumps(fn)) is not None
    items = [{"video": tf(frames, gen(s)), "seed": torch.tensor(s)} for s in range(2)]
    out = pickle.loads(pickle.dumps(masking))(items)
    assert out["mask"].shape == (2, 2, 2, 2) and torch.equal(out["mask"], masking(items)["mask"])


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
        view = make_test_view(frames, crop_size=8, spatial_idx=idx, num_crops=3)
        assert view.shape == (3, 2, 8, 8) and view.dtype == torch.uint8
        means.append(round(float(view.float().mean())))
    assert means == [50, 150, 250]


def videomae_multi_scale_boxes(width, height, size, scales, max_distort=1):
    """Every (left, top, w, h) VideoMAE's GroupMultiScaleCrop (fix_crop, more_fix_crop) can
    return, written from its rule: candidate sides int(short * scale) snapped to the input size
    within 3 px, (w, h) pairs whose scale indices differ by <= max_distort, and 13 fixed offsets
    on a grid of quarter steps of the free space."""
    base = min(width, height)
    cands = []
    for s in scales:
        side = int(base * s)
        cands.append(size if abs(side - size) < 3 else side)
    boxes = set()
    for hi, h in enumerate(cands):
        for wi, w in enumerate(cands):
            if abs(hi - wi) > max_distort:
                continue
            ws, hs = (width - w) // 4, (height - h) // 4
            offsets = {(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)}
            offsets |= {(0, 2 * hs), (4 * ws, 2 * hs), (2 * ws, 4 * hs), (2 * ws, 0)}
            offsets |= {(ws, hs), (3 * ws, hs), (ws, 3 * hs), (3 * ws, 3 * hs)}
            boxes |= {(x, y, w, h) for x, y in offsets}
    return boxes


@pytest.mark.parametrize("width,height,size", [(320, 240, 224), (340, 256, 224), (64, 48, 32)])
def test_multi_scale_crop_follows_videomae_rule(width, height, size):
    from videossl.data.transforms import multi_scale_crop_params

    scales = (1, 0.875, 0.75, 0.66)
    expected = videomae_multi_scale_boxes(width, height, size, scales)
    seen = set()
    g = gen(0)
    for _ in range(3000):
        top, left, h, w = multi_scale_crop_params(height, width, size, scales, g)
        seen.add((left, top, w, h))
    assert seen == expected


def test_multi_scale_crop_hand_computed_320x240():
    """Short side 240: sides 240, 210, 180, 158 (none within 3 px of 224); with max distort 1
    there are 10 (w, h) pairs; for 240x240 the step is (320-240)//4 = 20 px wide, 0 high."""
    from videossl.data.transforms import multi_scale_crop_params

    g = gen(1)
    sizes, lefts = set(), set()
    for _ in range(2000):
        top, left, h, w = multi_scale_crop_params(240, 320, 224, (1, 0.875, 0.75, 0.66), g)
        sizes.add((w, h))
        if (w, h) == (240, 240):
            assert top == 0
            lefts.add(left)
    assert sizes == {
        (240, 240), (210, 240), (240, 210), (210, 210), (180, 210),
        (210, 180), (180, 180), (158, 180), (180, 158), (158, 158),
    }  # fmt: skip
    assert lefts == {0, 20, 40, 60, 80}


def test_multi_scale_crop_in_train_transform_uses_the_box():
    """The pipeline crops the drawn box and resizes it to the crop size, on uint8, with no flip
    when flip is off (VideoMAE pretraining)."""
    from torchvision.transforms.v2 import functional as F

    from videossl.data.transforms import multi_scale_crop_params, to_planar, to_video

    frames = torch.randint(0, 256, (2, 48, 64, 3), dtype=torch.uint8, generator=gen(3))
    tf = TrainTransform(crop_size=32, multi_scale_crop=(1, 0.875, 0.75, 0.66), flip=False)
    for seed in range(5):
        out = tf(frames, gen(seed))
        box = multi_scale_crop_params(48, 64, 32, (1, 0.875, 0.75, 0.66), gen(seed))
        want = to_planar(F.resized_crop(to_video(frames), *box, [32, 32], antialias=True))
        assert out.dtype == torch.uint8 and torch.equal(out, want)


def test_color_jitter_params_and_grey_frame_by_hand():
    from videossl.data.transforms import color_jitter, color_jitter_params

    ops = color_jitter_params(0.4, gen(0))
    assert sorted(name for name, _ in ops) == ["brightness", "contrast", "saturation"]
    assert all(0.6 <= f <= 1.4 for _, f in ops)
    orders = {tuple(n for n, _ in color_jitter_params(0.4, gen(s))) for s in range(60)}
    assert len(orders) == 6  # every order occurs
    # A flat grey clip: brightness scales it; contrast and saturation keep it (within the
    # 1-level rounding of torchvision's uint8 grey conversion).
    grey = torch.full((2, 3, 4, 4), 100, dtype=torch.uint8)
    out = color_jitter(grey, [("brightness", 1.2)])
    assert out.dtype == torch.uint8 and torch.all(out == 120)
    out = color_jitter(grey, [("contrast", 1.3), ("saturation", 0.7)])
    assert torch.all((out.int() - 100).abs() <= 1)
    # Saturation 0 turns a colour pixel into its grey level (0.2989 R + 0.587 G + 0.114 B).
    px = torch.tensor([200, 100, 50], dtype=torch.uint8).view(1, 3, 1, 1)
    grey_level = int(0.2989 * 200 + 0.587 * 100 + 0.114 * 50)
    assert torch.all((color_jitter(px, [("saturation", 0.0)]) - grey_level).abs() <= 1)


def test_color_jitter_in_train_transform_is_seeded_and_off_at_zero():
    frames = torch.randint(0, 256, (2, 24, 32, 3), dtype=torch.uint8, generator=gen(4))
    plain = TrainTransform(crop_size=16, flip=False)
    jitter = TrainTransform(crop_size=16, flip=False, color_jitter=0.4)
    assert torch.equal(jitter(frames, gen(2)), jitter(frames, gen(2)))
    assert not torch.equal(jitter(frames, gen(2)), plain(frames, gen(2)))
    assert pickle.loads(pickle.dumps(jitter)).color_jitter == 0.4
