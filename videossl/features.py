"""Feature extraction: pooling encoder tokens, running an encoder over multi-view test batches,
averaging the views of each video, and writing the arrays (used by tools/extract_features.py).

Shapes: M = clips (views) seen, V = videos, S = views per video, C = feature channels.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)


def pool_tokens(tokens: Tensor, pool: str = "mean", num_prefix_tokens: int = 0) -> Tensor:
    """tokens [B,P+N,C] -> [B,C]: mean of the N patch tokens, or the cls token (index 0)."""
    if tokens.dim() != 3:
        raise ValueError(f"tokens must be [B,P+N,C], got shape {tuple(tokens.shape)}")
    if pool == "mean":
        return tokens[:, num_prefix_tokens:].mean(1)
    if pool == "cls":
        if num_prefix_tokens < 1:
            raise ValueError("pool='cls' needs a cls token (num_prefix_tokens >= 1)")
        return tokens[:, 0]
    raise ValueError(f"pool must be 'mean' or 'cls', got {pool!r}")


@torch.no_grad()
def extract_clip_features(
    encoder: nn.Module,
    batches: Iterable[dict[str, Any]],
    *,
    pool: str = "mean",
    device: torch.device | str = "cpu",
    amp: str = "",
    preprocess: Callable[[Tensor], Tensor] | None = None,
) -> dict[str, Tensor]:
    """Run `encoder` (in eval mode) on every batch -> {"features" [M,C] float32,
    "index" [M], "view" [M] int64, "valid" [M] bool} in the order seen. `preprocess` maps the
    loader's clips (uint8) to the encoder's input on the device (normalisation)."""
    device = torch.device(device)
    encoder.eval()
    feats, index, view, valid = [], [], [], []
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    for batch in batches:
        video = batch["video"].to(device, non_blocking=True)
        if preprocess is not None:
            video = preprocess(video)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            tokens = encoder(video)
        feats.append(pool_tokens(tokens, pool, encoder.num_prefix_tokens).float().cpu())
        n = video.shape[0]
        index.append(batch["index"].reshape(n).cpu())
        view.append(batch.get("view", torch.zeros(n, dtype=torch.int64)).reshape(n).cpu())
        valid.append(batch.get("valid", torch.ones(n, dtype=torch.bool)).reshape(n).cpu())
    if not feats:
        raise ValueError("no batches to extract features from (empty dataset?)")
    return {
        "features": torch.cat(feats),
        "index": torch.cat(index).long(),
        "view": torch.cat(view).long(),
        "valid": torch.cat(valid).bool(),
    }


def average_views(
    features: Tensor, index: Tensor, num_videos: int, valid: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Mean over the valid views of each video.

    features [M,C], index [M] video of each clip, valid [M] bool (None = all) ->
    (video features [V,C], views counted [V]). A clip seen twice (padding of a distributed
    sampler) counts twice only if it is passed twice: deduplicate first (`deduplicate_views`).
    Videos with no valid view get a zero row and count 0.
    """
    if features.dim() != 2 or index.shape != features.shape[:1]:
        raise ValueError(
            f"features [M,C] and index [M] expected, got {tuple(features.shape)} "
            f"and {tuple(index.shape)}"
        )
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= num_videos):
        raise ValueError(f"video index out of range [0, {num_videos})")
    keep = torch.ones_like(index, dtype=torch.bool) if valid is None else valid.bool()
    sums = torch.zeros(num_videos, features.shape[1], dtype=torch.float64)
    sums.index_add_(0, index[keep], features[keep].double())
    counts = torch.bincount(index[keep], minlength=num_videos)
    means = sums / counts.clamp(min=1).unsqueeze(1)
    return means.float(), counts


def deduplicate_views(clips: dict[str, Tensor]) -> dict[str, Tensor]:
    """Keep the first occurrence of each (index, view) pair in an `extract_clip_features`
    result (a DistributedSampler pads the last batch with repeated items)."""
    key = clips["index"] * (int(clips["view"].max()) + 1 if clips["view"].numel() else 1)
    key = key + clips["view"]
    seen: set[int] = set()
    first = []
    for i, k in enumerate(key.tolist()):
        if k not in seen:
            seen.add(k)
            first.append(i)
    order = torch.tensor(first, dtype=torch.long)
    return {k: v[order] for k, v in clips.items()}


def per_clip_array(
    clips: dict[str, Tensor], num_videos: int, views_per_video: int
) -> tuple[np.ndarray, np.ndarray]:
    """[V,S,C] float32 features by (video, view) and [V,S] bool validity; missing or invalid
    views are zeros with validity False."""
    feats = clips["features"]
    out = np.zeros((num_videos, views_per_video, feats.shape[1]), dtype=np.float32)
    ok = np.zeros((num_videos, views_per_video), dtype=bool)
    idx, view = clips["index"].numpy(), clips["view"].numpy()
    if view.size and int(view.max()) >= views_per_video:
        raise ValueError(f"view index {int(view.max())} >= views per video {views_per_video}")
    valid = clips["valid"].numpy()
    out[idx[valid], view[valid]] = feats.numpy()[valid]
    ok[idx[valid], view[valid]] = True
    return out, ok


def save_features(
    out_dir: str,
    features: np.ndarray,
    labels: Sequence[int],
    paths: Sequence[str],
    *,
    clip_features: np.ndarray | None = None,
    clip_valid: np.ndarray | None = None,
) -> dict[str, str]:
    """Write features.npy [V,C] float32, labels.npy [V] int64, paths.txt (one line a video) and,
    when given, clip_features.npy [V,S,C] and clip_valid.npy [V,S]; returns {name: path}."""
    if not len(features) == len(labels) == len(paths):
        raise ValueError(
            f"features ({len(features)}), labels ({len(labels)}) and paths ({len(paths)}) must "
            "have one entry per video"
        )
    os.makedirs(out_dir, exist_ok=True)
    written = {
        "features": os.path.join(out_dir, "features.npy"),
        "labels": os.path.join(out_dir, "labels.npy"),
        "paths": os.path.join(out_dir, "paths.txt"),
    }
    np.save(written["features"], np.asarray(features, dtype=np.float32))
    np.save(written["labels"], np.asarray(labels, dtype=np.int64))
    with open(written["paths"], "w") as f:
        f.write("".join(f"{p}\n" for p in paths))
    if clip_features is not None:
        written["clip_features"] = os.path.join(out_dir, "clip_features.npy")
        np.save(written["clip_features"], np.asarray(clip_features, dtype=np.float32))
    if clip_valid is not None:
        written["clip_valid"] = os.path.join(out_dir, "clip_valid.npy")
        np.save(written["clip_valid"], np.asarray(clip_valid, dtype=bool))
    logger.info(
        "Wrote %d feature vectors of size %d to %s",
        len(features),
        features.shape[1] if len(features) else 0,
        out_dir,
    )
    return written
