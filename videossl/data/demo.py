"""Built-in demo data: small synthetic H.264 videos whose class depends on motion.

Six classes = {square, disc} x {moving left, moving right, growing}. Backgrounds are shaded
and noisy; start positions, sizes, speeds and colours are random. Telling left from right needs
temporal modelling, and a horizontal flip swaps those labels (keep DATA.RANDOM_FLIP off).
Everything is drawn from numpy's PCG64 seeded by (seed, split, video), so the frames and labels
are the same on every machine (the encoded bytes may differ between libx264 versions).

Layout: ``<root>/{train,val,test}/<class>_<n>.mp4``, ``<root>/{train,val,test}.csv`` with
``path label`` lines (paths relative to ``<root>``, which the list reader resolves against the
list's folder), and ``<root>/labels.txt`` (class names, line n = label n).
"""

from __future__ import annotations

import fcntl
import os

import numpy as np

SHAPES = ("square", "disc")
MOTIONS = ("left", "right", "grow")
CLASSES = tuple(f"{s}_{m}" for s in SHAPES for m in MOTIONS)
SPLITS = ("train", "val", "test")


def render_clip(
    label: int, rng: np.random.Generator, *, size: tuple[int, int], num_frames: int
) -> np.ndarray:
    """uint8 [T,H,W,3] frames of class ``label`` (index into CLASSES)."""
    height, width = size
    shape, motion = SHAPES[label // len(MOTIONS)], MOTIONS[label % len(MOTIONS)]
    # Background: static low-contrast colour blocks (texture that HOG can predict from
    # context), plus light per-frame noise.
    coarse = rng.uniform(90, 140, size=(height // 8 + 1, width // 8 + 1, 3))
    background = np.kron(coarse, np.ones((8, 8, 1)))[:height, :width]
    noise = rng.normal(0, 3, size=(num_frames, height, width, 3))
    t = np.arange(num_frames, dtype=np.float64)
    radius0 = rng.uniform(0.17, 0.22) * min(height, width)
    if motion == "grow":
        radius = radius0 * (1 + rng.uniform(0.6, 0.8) * t / max(num_frames - 1, 1))
        cx = np.full_like(t, rng.uniform(0.4, 0.6) * width)
    else:
        radius = np.full_like(t, radius0)
        travel = rng.uniform(0.85, 1.0) * (width - 2 * radius0)
        x0 = rng.uniform(radius0, width - radius0 - travel)
        step = travel * t / max(num_frames - 1, 1)
        cx = x0 + step if motion == "right" else width - x0 - step
    cy = np.full_like(t, rng.uniform(0.35, 0.65) * height)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    r = radius[:, None, None]
    if shape == "square":
        inside = (np.abs(dx) <= r * 0.886) & (np.abs(dy) <= r * 0.886)  # same area as the disc
    else:
        inside = dx**2 + dy**2 <= r**2
    colour = rng.uniform(0, 255, size=3).astype(np.float32)
    colour[rng.integers(3)] = rng.choice([20.0, 240.0])  # keep it visible on the background
    frames = background[None] + noise
    frames[inside] = colour + noise[inside] * 0.5
    return np.clip(frames, 0, 255, out=frames).astype(np.uint8)


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
    size: tuple[int, int] = (64, 64),
    num_frames: int = 40,
    fps: int = 30,
    seed: int = 0,
) -> dict:
    """Write the demo dataset under ``root``; returns {root, classes, counts, lists}."""
    if size[0] % 2 or size[1] % 2:
        raise ValueError(f"size {size} must be even (yuv420p)")
    counts = {"train": num_train_per_class, "val": num_val_per_class, "test": num_test_per_class}
    lists = {}
    os.makedirs(root, exist_ok=True)
    for split_id, split in enumerate(SPLITS):
        os.makedirs(os.path.join(root, split), exist_ok=True)
        lines = []
        for label, name in enumerate(CLASSES):
            for n in range(counts[split]):
                rng = np.random.Generator(np.random.PCG64([seed, split_id, label, n]))
                frames = render_clip(label, rng, size=tuple(size), num_frames=num_frames)
                rel = f"{split}/{name}_{n:04d}.mp4"
                write_video(os.path.join(root, rel), frames, fps=fps)
                lines.append(f"{rel} {label}")
        lists[split] = os.path.join(root, f"{split}.csv")
        _write_text(lists[split], lines)
    _write_text(os.path.join(root, "labels.txt"), list(CLASSES))
    return {
        "root": root,
        "classes": list(CLASSES),
        "counts": {s: c * len(CLASSES) for s, c in counts.items()},
        "lists": lists,
    }


def ensure_demo_dataset(root: str, **kwargs) -> dict:
    """Write the demo dataset unless its lists already exist. Safe when several processes call
    it at once (an exclusive lock on ``<root>/.demo.lock``; lists are written last)."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".demo.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            lists = {s: os.path.join(root, f"{s}.csv") for s in SPLITS}
            labels = os.path.join(root, "labels.txt")
            if all(os.path.isfile(p) for p in [*lists.values(), labels]):
                counts = {}
                for split, path in lists.items():
                    with open(path) as f:
                        counts[split] = sum(1 for line in f if line.strip())
                return {"root": root, "classes": list(CLASSES), "counts": counts, "lists": lists}
            return write_demo_dataset(root, **kwargs)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
