import torch

from videossl.data.sampling import clip_indices, get_start_end_idx, segment_indices


def test_uniform_views_span_the_video():
    starts = [get_start_end_idx(100, 20, i, 3)[0] for i in range(3)]
    assert starts == [0.0, 40.0, 80.0]
    assert get_start_end_idx(100, 20, 0, 1) == (40, 59)
    assert get_start_end_idx(10, 20, 0, 1) == (0, 19)


def test_random_clip_is_seeded_and_in_range():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = [get_start_end_idx(100, 20, -1, 1, generator=g1)[0] for _ in range(20)]
    b = [get_start_end_idx(100, 20, -1, 1, generator=g2)[0] for _ in range(20)]
    assert a == b
    assert all(0 <= s <= 80 for s in a) and len(set(a)) > 1


def test_clip_indices_rate_fps_and_padding():
    idx = clip_indices(300, num_frames=4, sampling_rate=2, video_fps=30, clip_idx=0, num_clips=1)
    assert idx == [146, 148, 150, 153]  # start (300-8)//2, end = start + 8 - 1
    # 60 fps video resampled to 30: the clip spans twice as many source frames.
    idx = clip_indices(
        600, num_frames=4, sampling_rate=2, video_fps=60, target_fps=30, clip_idx=0, num_clips=2
    )
    assert idx[0] == 0 and idx[-1] == 15
    # Short video: the last frame is repeated.
    idx = clip_indices(5, num_frames=6, sampling_rate=2, video_fps=30, clip_idx=0, num_clips=1)
    assert idx[-3:] == [4, 4, 4] and max(idx) == 4


def test_segment_sampling():
    centre = segment_indices(32, 4, train=False)
    assert centre == [4, 12, 20, 28]
    assert segment_indices(32, 4, train=False, offset_idx=0, num_offsets=2) == [2, 10, 18, 26]
    assert segment_indices(32, 4, train=False, offset_idx=1, num_offsets=2) == [6, 14, 22, 30]
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        idx = segment_indices(32, 4, train=True, generator=g)
        assert all(8 * k <= i < 8 * (k + 1) for k, i in enumerate(idx))
    assert segment_indices(2, 4, train=False) == [0, 0, 1, 1]
