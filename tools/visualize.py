"""Write PNG views of masks and HOG targets.

    python tools/visualize.py masks --cfg CFG.yaml [--video PATH] --out DIR [--opts K V ...]
    python tools/visualize.py hog   --cfg CFG.yaml [--video PATH] --out DIR [--opts K V ...]
    python tools/visualize.py recon --cfg MAE.yaml [--checkpoint RUN] [--video PATH] --out DIR

The clip is the first DATA.NUM_FRAMES frames of --video (decoded with PyAV, short side resized
and centre-cropped to DATA.TEST_CROP_SIZE), or a synthetic moving square without --video.
Subcommands live in COMMANDS (name -> (add_args, run)); a `recon` command plugs in there
(videossl.visualize.plot_reconstruction + videossl.targets.denormalize_videomae_patches).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from videossl.config import load_config  # noqa: E402
from videossl.masking import build_masker  # noqa: E402
from videossl.targets import (  # noqa: E402
    HOGTarget,
    denormalize_videomae_patches,
    hog_cells,
)
from videossl.visualize import (  # noqa: E402
    plot_hog,
    plot_masks,
    plot_reconstruction,
    read_clip,
    synthetic_clip,
)

logger = logging.getLogger("visualize")


def load_clip(cfg, video: str | None) -> torch.Tensor:
    """[3,T,S,S] in [0,1] from --video or the synthetic clip."""
    size, num = cfg.DATA.TEST_CROP_SIZE, cfg.DATA.NUM_FRAMES
    return read_clip(video, num, size) if video else synthetic_clip(num, size)


def normalise(frames: torch.Tensor, cfg) -> torch.Tensor:
    """[3,T,H,W] in [0,1] -> [1,3,T,H,W] normalised with DATA.MEAN / DATA.STD."""
    from videossl.models.normalize import Normalize

    return Normalize(cfg.DATA.MEAN, cfg.DATA.STD)(frames[None] * 255)


def add_masks_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-samples", type=int, default=3, help="masks drawn (rows)")


def run_masks(cfg, args: argparse.Namespace) -> list[str]:
    frames = load_clip(cfg, args.video)
    masker = build_masker(cfg)
    gen = torch.Generator().manual_seed(args.seed)
    masks = masker(args.num_samples, tuple(frames.shape[1:]), generator=gen)
    path = os.path.join(args.out, f"masks_{cfg.MASK.TYPE}.png")
    title = f"{cfg.MASK.TYPE} mask, ratio {cfg.MASK.RATIO}, unit {tuple(cfg.MASK.UNIT)}"
    return [plot_masks(frames, masks, path, title=title)]


def add_hog_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-rows", type=int, default=4, help="temporal slices shown")


def maskfeat_patch(cfg) -> tuple[int, int, int]:
    """The token patch of the MaskFeat encoder this config builds (its owner: the encoder),
    read off the objective built on the meta device (no weights are allocated)."""
    from videossl.models.build import build_model

    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.OBJECTIVE, cfg.TARGET.NAMES, cfg.TARGET.WEIGHTS = "maskfeat", ["hog"], [1.0]
    with torch.device("meta"):
        return tuple(build_model(cfg).encoder.patch_size)


def run_hog(cfg, args: argparse.Namespace) -> list[str]:
    frames = load_clip(cfg, args.video)
    target = HOGTarget(**HOGTarget.from_config(cfg, maskfeat_patch(cfg)))
    hist = hog_cells(
        normalise(frames, cfg),
        cell_size=target.cell_size,
        nbins=target.nbins,
        frame_stride=target.frame_stride,
        window=target.window,
    )[0]
    path = os.path.join(args.out, "hog.png")
    return [plot_hog(frames, hist, path, target.cell_size, target.frame_stride, args.max_rows)]


def add_recon_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="MAE checkpoint file or run folder (default: the config's OUTPUT_DIR)",
    )


def run_recon(cfg, args: argparse.Namespace) -> list[str]:
    """MAE reconstructions, de-normalised with each patch's own mean and std."""
    from videossl import checkpoint as ckpt
    from videossl.models.build import build_model
    from videossl.targets import unpatchify

    if cfg.MODEL.OBJECTIVE != "mae" or cfg.TARGET.PIXEL_NORM != "videomae":
        raise SystemExit("recon needs an MAE config with TARGET.PIXEL_NORM videomae.")
    path = ckpt.resolve(args.checkpoint or cfg.OUTPUT_DIR)
    model = build_model(cfg)
    model.load_state_dict(ckpt.load(path)["model"])
    model.eval()
    frames = load_clip(cfg, args.video)
    torch.manual_seed(args.seed)
    out = model.reconstruct(frames[None] * 255)  # the objective normalises its input
    patch = tuple(model.encoder.patch_size)
    pixels = denormalize_videomae_patches(out["pred"], frames[None], patch)
    recon = unpatchify(pixels, patch, tuple(out["grid"].tolist()))[0].clamp(0, 1)
    mask = out["mask"][0].view(*out["grid"].tolist())
    png = os.path.join(args.out, "recon.png")
    return [plot_reconstruction(frames, mask, recon, png)]


COMMANDS: dict[str, tuple[Callable, Callable]] = {
    "masks": (add_masks_args, run_masks),
    "hog": (add_hog_args, run_hog),
    "recon": (add_recon_args, run_recon),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add_args, _) in COMMANDS.items():
        p = sub.add_parser(name)
        p.add_argument("--cfg", action="append", default=[], help="YAML config (repeatable)")
        p.add_argument("--video", default=None, help="video file (default: synthetic clip)")
        p.add_argument("--out", required=True, help="output folder for the PNGs")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE ...")
        add_args(p)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[str]:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    cfg = load_config(args.cfg, args.opts)
    paths = COMMANDS[args.command][1](cfg, args)
    for p in paths:
        print(p)
    return paths


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
