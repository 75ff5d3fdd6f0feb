"""Objectives: compositions of an encoder, a head or decoder, targets, a masker and a loss.

Each objective's `forward(batch)` returns a dict of losses (keys starting with "loss" are
summed by the engine) and `predict(batch)` returns what evaluators need. Every objective owns
its input normalisation: `self.normalize` (`models/normalize.py`) turns the batch's uint8 clip
`[B,3,T,H,W]` into the normalised float clip the encoder sees, on the batch's device.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..masking import batch_seeds, mask_to_grid
from ..targets.losses import masked_mse
from .normalize import Normalize

# videossl.masking.Masker: draw(seeds, input_shape (T, H, W), *, device) -> bool [B,t,h,w]
# on the mask-unit grid (True = masked).
Masker = Callable[..., torch.Tensor]


def _prefixed(patterns, prefix: str):
    if isinstance(patterns, str):  # every anchored alternative of "^a|^b"
        return "|".join(
            f"^{prefix}{alt[1:]}" if alt.startswith("^") else alt for alt in patterns.split("|")
        )
    if isinstance(patterns, (list, tuple)):
        out = []
        for p in patterns:
            if isinstance(p, tuple):
                out.append((_prefixed(p[0], prefix), p[1]))
            else:
                out.append(_prefixed(p, prefix))
        return out
    return patterns


def target_input(target: nn.Module, video: torch.Tensor, clip: torch.Tensor) -> torch.Tensor:
    """The clip a target is computed from: `clip` (normalised) or the uint8 `video` as [0,1]
    pixels, as the target's `input_space` ("normalized" or "unit") says."""
    space = getattr(target, "input_space", "normalized")
    if space == "unit":
        return Normalize.unit(video)
    if space != "normalized":
        raise ValueError(f"{type(target).__name__}.input_space={space!r}: 'unit' or 'normalized'.")
    return clip


class _EncoderObjective(nn.Module):
    """Shared plumbing: weight-decay exclusions and layer groups come from the encoder."""

    encoder: nn.Module
    normalize: nn.Module

    def no_weight_decay(self) -> set[str]:
        inner = getattr(self.encoder, "no_weight_decay", lambda: set())()
        names = {f"encoder.{n}" for n in inner}
        names |= {n for n, _ in self.named_parameters() if "mask_token" in n}
        return names

    def group_matcher(self, coarse: bool = False) -> dict:
        inner = self.encoder.group_matcher(coarse=coarse)
        return {k: _prefixed(v, r"encoder\.") for k, v in inner.items()}


class _MaskingObjective(_EncoderObjective):
    """An objective that owns a masker (`self.masker`, which the job also hands to the loader
    for MASK.IN_LOADER) and the mask's conversion to each grid it needs."""

    masker: Masker

    def unit_mask(self, batch: dict, video: torch.Tensor) -> torch.Tensor:
        """The batch's mask (drawn in the loader) or one drawn now from the clips' seeds: bool
        [B,t,h,w] on the mask-unit grid, on the clip's device."""
        mask = batch.get("mask")
        if mask is None:
            seeds = batch_seeds(batch, video.shape[0])
            mask = self.masker.draw(seeds, tuple(video.shape[2:]))
        return mask.to(video.device)

    def token_mask(self, mask: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """A unit-grid mask [B,t,h,w] as bool [B,N] over the tokens of `grid`."""
        return mask_to_grid(mask, grid).flatten(1)


class MaskFeat(_MaskingObjective):
    """Mask cubes, substitute a mask token, predict each target on the masked tokens."""

    def __init__(
        self,
        *,
        encoder: nn.Module,
        head: nn.Module,
        targets: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], float]],
        masker: Masker,
        normalize: nn.Module,
    ) -> None:
        super().__init__()
        self.normalize = normalize
        self.encoder = encoder
        self.head = head  # tokens [B,N,C] -> {name: [B,N,D_name]}
        self.targets = targets
        self.masker = masker

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        video = batch["video"]  # uint8 [B,3,T,H,W]
        clip = self.normalize(video)
        shape = tuple(video.shape[2:])
        mask = self.unit_mask(batch, video)
        # the mask token goes in at the encoder's input grid, the loss is on its output grid
        in_mask = self.token_mask(mask, self.encoder.input_grid(*shape))
        tokens = self.encoder(clip, mask=in_mask)[:, self.encoder.num_prefix_tokens :]
        preds = self.head(tokens)  # {name: [B,N,D]}
        token_mask = self.token_mask(mask, self.encoder.output_grid(*shape))  # [B,N]
        losses = {}
        for name, (target_fn, weight) in self.targets.items():
            with torch.no_grad():
                target = target_fn(target_input(target_fn, video, clip))  # [B,N,D]
            losses[f"loss_{name}"] = weight * masked_mse(preds[name].float(), target, token_mask)
        return losses


class MAE(_MaskingObjective):
    """Drop most tokens, encode the visible ones, decode, predict normalised pixels."""

    def __init__(
        self,
        *,
        encoder: nn.Module,
        decoder: nn.Module,
        target: Callable[[torch.Tensor], torch.Tensor],
        masker: Masker,
        normalize: nn.Module,
        decoder_masker: Callable[..., torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.normalize = normalize
        self.encoder = encoder
        self.decoder = decoder
        self.target = target
        self.masker = masker
        self.decoder_masker = decoder_masker  # (mask [B,N], grid, seeds) -> decode_mask [B,N]

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        video = batch["video"]  # uint8 [B,3,T,H,W]
        clip = self.normalize(video)
        shape = tuple(video.shape[2:])
        grid = self.encoder.output_grid(*shape)  # = its input grid: a ViT
        mask = self.token_mask(self.unit_mask(batch, video), grid)  # [B,N]
        latent = self.encoder.forward_visible(clip, mask)[:, self.encoder.num_prefix_tokens :]
        decode_mask = mask
        if self.decoder_masker is not None:
            decode_mask = self.decoder_masker(mask, grid, batch_seeds(batch, video.shape[0]))
        pred = self.decoder(latent, mask, decode_mask)  # [B,N_dec,D]
        target = self.target_for(video, clip)[decode_mask].reshape(pred.shape)
        per_token = ((pred.float() - target) ** 2).mean(-1)  # [B, N_dec]
        # VideoMAE v2: decoded tokens the encoder saw carry no loss (decode_mask ⊄ mask).
        weight = mask[decode_mask].reshape(per_token.shape).float()
        return {"loss_pixel": (per_token * weight).sum() / weight.sum().clamp(min=1)}

    @torch.no_grad()
    def target_for(self, video: torch.Tensor, clip: torch.Tensor | None = None) -> torch.Tensor:
        """The pixel target [B,N,D] of a uint8 clip (`clip`: its normalised form, if made)."""
        clip = self.normalize(video) if clip is None else clip
        return self.target(target_input(self.target, video, clip))

    @torch.no_grad()
    def reconstruct(self, video: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predictions for every masked token of a uint8 clip, for visualisation.

        Returns "pred" [B,N,D] (zeros at visible tokens, target-normalised values at masked
        ones), "mask" [B,N] bool and "grid" (t,h,w).
        """
        shape = tuple(video.shape[2:])
        grid = self.encoder.output_grid(*shape)
        mask = self.token_mask(self.unit_mask({}, video), grid)  # seeds from the global RNG
        clip = self.normalize(video)
        latent = self.encoder.forward_visible(clip, mask)[:, self.encoder.num_prefix_tokens :]
        pred = self.decoder(latent, mask, mask)  # [B,N_mask,D]
        full = pred.new_zeros(mask.shape[0], mask.shape[1], pred.shape[-1])
        full[mask] = pred.reshape(-1, pred.shape[-1])
        return {"pred": full, "mask": mask, "grid": torch.tensor(grid)}


class Classifier(_EncoderObjective):
    """Encoder + classification head; Mixup/CutMix and soft targets in training."""

    def __init__(
        self,
        *,
        encoder: nn.Module,
        head: nn.Module,
        criterion: nn.Module,
        normalize: nn.Module,
        mixup: Callable | None = None,
    ) -> None:
        super().__init__()
        self.normalize = normalize
        self.encoder = encoder
        self.head = head
        self.criterion = criterion
        self.mixup = mixup

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        video, label = self.normalize(batch["video"]), batch["label"]
        if self.mixup is not None:
            b, c, t, h, w = video.shape
            flat, label = self.mixup(video.reshape(b, c * t, h, w), label)
            video = flat.reshape(b, c, t, h, w)
        logits = self.head(self.encoder(video))
        return {"loss_cls": self.criterion(logits.float(), label)}

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        return {"logits": self.head(self.encoder(self.normalize(batch["video"])))}

    def features(self, video: torch.Tensor) -> torch.Tensor:
        """Pooled features of a uint8 clip before the classifier, [B,C]."""
        return self.head.pool_features(self.encoder(self.normalize(video)))
