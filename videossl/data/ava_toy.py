"""Toy AVA: a tiny AVA-format dataset whose actions are visible, for tests and the demo.

Actors are rectangles on a noisy gray background. Three actions: 1 "red" (red actor),
2 "green" (green actor), 3 "move" (the actor slides right over the clip); an actor has a
colour action and may also move. Files written under `root`:

    frames/<video_id>/<video_id>_%06d.jpg      (fps frames per second, from second 0)
    annotations/toy_{train,val}.csv           ground truth (person_id in column 8)
    annotations/toy_{train,val}_proposals.csv jittered boxes + false boxes, with scores
    annotations/toy_label_map.pbtxt           the three actions
    annotations/toy_val_excluded.csv          one excluded keyframe
"""

from __future__ import annotations

import logging
import os
import warnings

import torch
from fvcore.common.config import CfgNode
from torchvision.io import write_jpeg

logger = logging.getLogger(__name__)

ACTIONS = {1: "red", 2: "green", 3: "move"}
COLOURS = {1: (220, 40, 40), 2: (40, 200, 40)}


def _actors(gen: torch.Generator, size: int) -> list[dict]:
    actors = []
    for _ in range(int(torch.randint(1, 3, (1,), generator=gen))):
        w = int(torch.randint(size // 4, size // 2, (1,), generator=gen))
        h = int(torch.randint(size // 3, size // 2 + 4, (1,), generator=gen))
        x = int(torch.randint(4, size - w - 4, (1,), generator=gen))
        y = int(torch.randint(0, size - h, (1,), generator=gen))
        colour = 1 if float(torch.rand((), generator=gen)) < 0.5 else 2
        moving = float(torch.rand((), generator=gen)) < 0.5
        actors.append(dict(box=(x, y, x + w, y + h), colour=colour, moving=moving))
    return actors


def _frame(actors: list[dict], shift: int, size: int, gen: torch.Generator) -> torch.Tensor:
    img = (torch.rand(3, size, size, generator=gen) * 40 + 100).to(torch.uint8)
    for a in actors:
        x1, y1, x2, y2 = a["box"]
        dx = shift if a["moving"] else 0
        colour = torch.tensor(COLOURS[a["colour"]], dtype=torch.uint8).view(3, 1, 1)
        img[:, y1:y2, x1 + dx : x2 + dx] = colour
    return img


def _row(video_id: str, ts: int, box, size: int, action, last) -> str:
    coords = ",".join(f"{min(max(v / size, 0.0), 1.0):.3f}" for v in box)
    return f"{video_id},{ts:04d},{coords},{action},{last}"


def write_toy_ava(
    root: str,
    *,
    num_train_videos: int = 4,
    num_val_videos: int = 2,
    seconds: int = 10,
    fps: int = 4,
    size: int = 64,
    seed: int = 0,
) -> None:
    """Write the toy dataset under `root` (keyframes 1..seconds-1 of each video; moving
    actors slide 1 px per frame and sit at their box on the keyframe)."""
    gen = torch.Generator().manual_seed(seed)
    ann = os.path.join(root, "annotations")
    os.makedirs(ann, exist_ok=True)
    for split, count in (("train", num_train_videos), ("val", num_val_videos)):
        gt, props = [], []
        for v in range(count):
            video_id = f"toy_{split}{v}"
            folder = os.path.join(root, "frames", video_id)
            os.makedirs(folder, exist_ok=True)
            actors_per_second = [_actors(gen, size) for _ in range(seconds)]
            # second ts owns frames ts*fps - fps//2 .. ts*fps + fps//2 - 1 (0-based), so a
            # clip of up to fps frames around the keyframe ts*fps sees one set of actors
            for i in range(seconds * fps - fps // 2):
                ts = (i + fps // 2) // fps
                img = _frame(actors_per_second[ts], i - ts * fps, size, gen)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    path = os.path.join(folder, f"{video_id}_{i + 1:06d}.jpg")
                    write_jpeg(img, path, quality=95)
            for ts in range(seconds):
                actors = actors_per_second[ts]
                if ts == 0:
                    continue
                for pid, a in enumerate(actors):
                    labels = [a["colour"]] + ([3] if a["moving"] else [])
                    gt += [_row(video_id, ts, a["box"], size, lab, pid) for lab in labels]
                    jitter = torch.randn(4, generator=gen) * 1.5
                    noisy = [b + float(j) for b, j in zip(a["box"], jitter)]
                    noisy = [
                        min(noisy[0], noisy[2]),
                        min(noisy[1], noisy[3]),
                        max(noisy[0], noisy[2]),
                        max(noisy[1], noisy[3]),
                    ]
                    score = 0.9 + 0.1 * float(torch.rand((), generator=gen))
                    props.append(_row(video_id, ts, noisy, size, "", f"{score:.3f}"))
                fx = int(torch.randint(0, size - 16, (1,), generator=gen))
                false_box = (fx, 0, fx + 16, 16)
                props.append(_row(video_id, ts, false_box, size, "", "0.300"))
        _write(os.path.join(ann, f"toy_{split}.csv"), gt)
        _write(os.path.join(ann, f"toy_{split}_proposals.csv"), props)
    items = [f'item {{\n  name: "{n}"\n  id: {i}\n}}' for i, n in ACTIONS.items()]
    _write(os.path.join(ann, "toy_label_map.pbtxt"), items)
    _write(os.path.join(ann, "toy_val_excluded.csv"), ["toy_val0,0009"])


def _write(path: str, lines: list[str]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def ensure_toy_ava(cfg: CfgNode) -> None:
    """Write the toy dataset at AVA.ANNOTATION_DIR's parent when its files are missing
    (on the main process; the others wait)."""
    from ..distributed import barrier, is_main_process

    ann = cfg.AVA.ANNOTATION_DIR
    marker = os.path.join(ann, "toy_label_map.pbtxt")
    if is_main_process() and not os.path.isfile(marker):
        root = os.path.dirname(os.path.normpath(ann))
        logger.info("Writing the toy AVA dataset to %s", root)
        write_toy_ava(root, fps=cfg.AVA.FPS, size=cfg.DATA.TEST_CROP_SIZE, seed=cfg.RNG_SEED)
    barrier()
