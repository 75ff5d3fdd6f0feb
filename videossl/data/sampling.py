"""Clip index sampling (pure functions; randomness from an explicit torch.Generator).

Indices refer to frames of the decoded video (0-based). Indices past the end are clamped to
the last frame, which pads short videos by repeating it.
"""

from __future__ import annotations

import math

import torch


def get_start_end_idx(
    video_size: float,
    clip_size: float,
    clip_idx: int,
    num_clips: int,
    *,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """Start and end (inclusive) of a clip, PySlowFast semantics.

    ``clip_idx == -1``: a uniformly random start in ``[0, video_size - clip_size]``; otherwise
    clip ``clip_idx`` of ``num_clips`` uniformly spaced clips from the first frame to the last
    (a single clip is centred).
    """
    delta = max(video_size - clip_size, 0.0)
    if clip_idx == -1:
        start = float(torch.rand((), generator=generator)) * delta
    elif num_clips == 1:
        start = math.floor(delta / 2)
    else:
        start = clip_idx * delta / (num_clips - 1)
    return start, start + clip_size - 1


def clip_indices(
    video_frames: int,
    *,
    num_frames: int,
    sampling_rate: int,
    video_fps: float,
    target_fps: float = 0.0,
    clip_idx: int = -1,
    num_clips: int = 1,
    generator: torch.Generator | None = None,
) -> list[int]:
    """``num_frames`` indices, ``sampling_rate`` frames apart at ``target_fps``.

    With ``target_fps > 0`` the video is first resampled to that rate: a clip spans
    ``num_frames * sampling_rate * video_fps / target_fps`` source frames.
    """
    fps_ratio = video_fps / target_fps if target_fps > 0 else 1.0
    clip_size = num_frames * sampling_rate * fps_ratio
    start, end = get_start_end_idx(
        video_frames, clip_size, clip_idx, num_clips, generator=generator
    )
    index = torch.linspace(start, end, num_frames).clamp(0, max(video_frames - 1, 0)).long()
    return index.tolist()


def segment_indices(
    video_frames: int,
    num_segments: int,
    *,
    train: bool,
    offset_idx: int = 0,
    num_offsets: int = 1,
    generator: torch.Generator | None = None,
) -> list[int]:
    """TSN-style segment sampling (SSv2): one frame per equal segment.

    Training: a random frame in each segment. Testing: the frame at relative position
    ``(offset_idx + 0.5) / num_offsets`` of each segment (the centre when ``num_offsets == 1``).
    """
    seg_size = video_frames / num_segments
    starts = torch.arange(num_segments, dtype=torch.float64) * seg_size
    if train:
        pos = torch.rand(num_segments, generator=generator, dtype=torch.float64) * seg_size
    else:
        pos = torch.full((num_segments,), (offset_idx + 0.5) / num_offsets * seg_size)
    index = (starts + pos).floor().long().clamp(0, max(video_frames - 1, 0))
    return index.tolist()
