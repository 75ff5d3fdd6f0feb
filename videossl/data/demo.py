"""Built-in demo data: small synthetic H.264 clips whose class needs both motion and shape.

Six classes = {square, disc} x {moving left, moving right, growing}: a light object on a flat
grey background; its start position, size and speed are random. Telling left from right
needs temporal modelling, square from disc needs edges; a horizontal flip swaps the left/right
labels (keep DATA.RANDOM_FLIP off). Everything is drawn from numpy's PCG64 seeded by (seed,
split, class, video), so the frames and labels are the same on every machine (the encoded bytes
may differ between libx264 versions).

Layout under ``<root>``::

    {train,val,test}/<class>_<n>.mp4, {train,val,test}.csv    labeled splits, "path label"
    labels.txt                                                 class names, line n = label n
    pool/<class>_<n>.mp4, unlabeled/train.csv                  with ``num_pool_per_class`` > 0:
        the unlabeled pool to pretrain on ("path 0 -1" lines; the labeled train clips included)

List paths are relative to the list's folder, which the list reader resolves against. The
label-scarce demo pretrains with DATA.PATH_TO_DATA_DIR ``<root>/unlabeled`` and fine-tunes with
``<root>`` on a few labeled clips per class.
"""

from __future__ import annotations

import fcntl
import logging
import os

import numpy as np

logger = logging.getLogger(__name__)

SHAPES = ("square", "disc")
MOTIONS = ("left", "right", "grow")
CLASSES = tuple(f"{s}_{m}" for s in SHAPES for m in MOTIONS)
SPLITS = ("train", "val", "test", "pool")
BACKGROUND, OBJECT = 100.0, 240.0  # grey levels of the background and the object
UNLABELED = "unlabeled"
# What the demo configs expect (configs/demo/, tools/demo.py): few labels, a large pool.
DEMO_SIZES = {
    "num_train_per_class": 6,
    "num_val_per_class": 6,
    "num_test_per_class": 30,
    "num_pool_per_class": 150,
    "size": (32, 32),
    "num_frames": 8,
}


def _background(height: int, width: int, frames: int) -> np.ndarray:
    """A flat grey: float [T,H,W,3]. Colours are fixed (grey background, light object) so the
    only variation is the object's position, size, speed, shape and motion: with random colours
    a few labels are swamped by colour and neither scratch nor pretraining generalises (measured
    for issue 16, docs/benchmarks.md "End-to-end demo")."""
    return np.full((frames, height, width, 3), BACKGROUND, dtype=np.float64)


def _centres(motion: str, rng: np.random.Generator, height: int, width: int, frames: int):
    """Per-frame centre x, y and radius (pixels) of the object."""
    t = np.arange(frames, dtype=np.float64) / max(frames - 1, 1)
    radius0 = rng.uniform(0.25, 0.3) * min(height, width)
    cy = np.full_like(t, rng.uniform(0.35, 0.65) * height)
    if motion == "grow":
        radius = radius0 * (1 + rng.uniform(0.6, 0.8) * t)
        return np.full_like(t, rng.uniform(0.4, 0.6) * width), cy, radius
    travel = rng.uniform(0.45, 0.6) * width
    x0 = rng.uniform(radius0, max(radius0 + 1e-3, width - radius0 - travel))  # may exit
    cx = x0 + travel * t
    return (cx if motion == "right" else width - cx), cy, np.full_like(t, radius0)


def render_clip(
    label: int, rng: np.random.Generator, *, size: tuple[int, int], num_frames: int
) -> np.ndarray:
    """uint8 [T,H,W,3] frames of class ``label`` (index into CLASSES)."""
    height, width = size
    shape, motion = SHAPES[label // len(MOTIONS)], MOTIONS[label % len(MOTIONS)]
    frames = _background(height, width, num_frames)
    cx, cy, radius = _centres(motion, rng, height, width, num_frames)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    r = radius[:, None, None]
    if shape == "square":
        inside = (np.abs(dx) <= r * 0.886) & (np.abs(dy) <= r * 0.886)  # same area as the disc
    else:
        inside = dx**2 + dy**2 <= r**2
    frames[inside] = OBJECT
    return np.clip(frames, 0, 255).astype(np.uint8)


def write_video(path: str, frames: np.ndarray, *, fps: int = 30, crf: int = 18) -> None:
    """Encode uint8 [T,H,W,3] as H.264 (libx264, yuv420p) in an mp4 file."""
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast", "g": "16", "threads": "1"}
        for array in frames:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _write_text(path: str, lines: list[str]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write("".join(f"{line}\n" for line in lines))
    os.replace(tmp, path)


def write_demo_dataset(
    root: str,
    *,
    num_train_per_class: int = 48,
    num_val_per_class: int = 4,
    num_test_per_class: int = 8,
    num_pool_per_class: int = 0,
    size: tuple[int, int] = (64, 64),
    num_frames: int = 40,
    fps: int = 30,
    seed: int = 0,
) -> dict:
    """Write the demo dataset under ``root``; returns {root, classes, counts, lists}."""
    if size[0] % 2 or size[1] % 2:
        raise ValueError(f"size {size} must be even (yuv420p)")
    per_class = dict(zip(SPLITS, (num_train_per_class, num_val_per_class, num_test_per_class)))
    per_class["pool"] = num_pool_per_class
    rows: dict[str, list[str]] = {}
    for split_id, split in enumerate(SPLITS):
        os.makedirs(os.path.join(root, split), exist_ok=True)
        rows[split] = []
        for label, name in enumerate(CLASSES):
            for n in range(per_class[split]):
                rng = np.random.Generator(np.random.PCG64([seed, split_id, label, n]))
                frames = render_clip(label, rng, size=tuple(size), num_frames=num_frames)
                rel = f"{split}/{name}_{n:04d}.mp4"
                write_video(os.path.join(root, rel), frames, fps=fps)
                rows[split].append(f"{rel} {label}")
    lists = {split: os.path.join(root, f"{split}.csv") for split in SPLITS[:3]}
    counts = {split: len(rows[split]) for split in SPLITS[:3]}
    if num_pool_per_class > 0:
        os.makedirs(os.path.join(root, UNLABELED), exist_ok=True)
        lists["pool"] = os.path.join(root, UNLABELED, "train.csv")
        pool = [f"../{row.split()[0]} 0 -1" for row in rows["pool"] + rows["train"]]
        _write_text(lists["pool"], pool)
        counts["pool"] = len(pool)
    _write_text(os.path.join(root, "labels.txt"), list(CLASSES))
    for split in SPLITS[:3]:  # the labeled lists last: they mark the dataset complete
        _write_text(lists[split], rows[split])
    return {"root": root, "classes": list(CLASSES), "counts": counts, "lists": lists}


def demo_root(path: str) -> str:
    """The dataset's root for a DATA.PATH_TO_DATA_DIR: the root itself or its unlabeled/."""
    path = os.path.normpath(path)
    return os.path.dirname(path) if os.path.basename(path) == UNLABELED else path


def _existing(root: str) -> dict | None:
    lists = {split: os.path.join(root, f"{split}.csv") for split in SPLITS[:3]}
    if not all(os.path.isfile(p) for p in [*lists.values(), os.path.join(root, "labels.txt")]):
        return None
    pool = os.path.join(root, UNLABELED, "train.csv")
    if os.path.isfile(pool):
        lists["pool"] = pool
    counts = {}
    for split, path in lists.items():
        with open(path) as f:
            counts[split] = sum(1 for line in f if line.strip())
    return {"root": root, "classes": list(CLASSES), "counts": counts, "lists": lists}


def ensure_demo_dataset(path: str, **kwargs) -> dict:
    """Write the demo dataset unless its lists already exist; ``path`` is its root or its
    unlabeled/ folder; ``kwargs`` (of write_demo_dataset) default to DEMO_SIZES. Safe when
    several processes call it at once (an exclusive lock on ``<root>/.demo.lock``; lists are
    written last)."""
    root = demo_root(path)
    kwargs = {**DEMO_SIZES, **kwargs}
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".demo.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            found = _existing(root)
            wants_pool = root != os.path.normpath(path)  # asked for <root>/unlabeled
            if found is not None and ("pool" in found["lists"] or not wants_pool):
                return found
            logger.info("Generating the demo data in %s (synthetic H.264 clips)", root)
            return write_demo_dataset(root, **kwargs)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
