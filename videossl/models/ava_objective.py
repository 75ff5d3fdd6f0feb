"""AVA action detection objective: encoder + RoI head, binary cross-entropy per box and class.

Batch (from `videossl.data.ava.collate_ava`): video [B,3,T,H,W]; boxes [R,5] (batch index,
x1,y1,x2,y2 in pixels of the clip); labels [R,K] multi-hot; meta (video_id, timestamp,
orig_boxes) for the evaluator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from fvcore.common.config import CfgNode
from torch import nn

from .objectives import _EncoderObjective
from .registry import OBJECTIVES
from .roi_head import AVARoIHead


class AVADetector(_EncoderObjective):
    """Per-box multi-label action classification on given person boxes."""

    def __init__(self, *, encoder: nn.Module, head: AVARoIHead, normalize: nn.Module) -> None:
        super().__init__()
        self.normalize = normalize
        self.encoder = encoder
        self.head = head

    def logits(self, batch: dict) -> torch.Tensor:
        """[R,K] action logits for the batch's boxes."""
        video = batch["video"]  # uint8 [B,3,T,H,W]
        T, H, W = video.shape[2:]
        tokens = self.encoder(self.normalize(video))
        grid = self.encoder.output_grid(T, H, W)
        return self.head(tokens, grid, batch["boxes"], (H, W))

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        logits = self.logits(batch)
        loss = F.binary_cross_entropy_with_logits(logits.float(), batch["labels"].float())
        return {"loss_bce": loss}

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        logits = self.logits(batch).float()
        return {"scores": logits.sigmoid(), "logits": logits}


@OBJECTIVES.register("ava", evaluator="AVAEvaluator")  # engine/ava_evaluator.py
def build_ava(cfg: CfgNode) -> nn.Module:
    """AVA detector on the configured encoder (MODEL.ARCH), head options from AVA.*."""
    from .build import build_encoder, build_normalize

    encoder = build_encoder(cfg)
    head = AVARoIHead(
        encoder.embed_dim,
        cfg.AVA.NUM_CLASSES,
        num_prefix_tokens=encoder.num_prefix_tokens,
        resolution=cfg.AVA.ROI_RESOLUTION,
        sampling_ratio=cfg.AVA.ROI_SAMPLING_RATIO,
        dropout=cfg.AVA.ROI_DROPOUT,
        init_scale=cfg.MODEL.HEAD_INIT_SCALE,
    )
    return AVADetector(encoder=encoder, head=head, normalize=build_normalize(cfg))
