"""Linear probe: a frozen pretrained encoder, pooled features, BatchNorm1d without affine and a
linear classifier (MAE's linear-probing protocol). Only the classifier is trained.

Registered as the "linear_probe" objective; the engine sees the usual interface:
`forward(batch) -> {"loss_cls": scalar}`, `predict(batch) -> {"logits": [B,K]}`.
"""

from __future__ import annotations

from typing import Any

import torch
from fvcore.common.config import CfgNode
from timm.layers import trunc_normal_
from torch import Tensor, nn

from ..features import pool_tokens
from .build import build_encoder, build_normalize
from .registry import OBJECTIVES


class LinearProbe(nn.Module):
    """Frozen `encoder` -> pooled [B,C] -> BatchNorm1d(affine=False) -> Linear -> [B,K].

    The encoder runs without gradients and stays in eval mode even when `train()` is called
    (no drop path, dropout or norm statistics updates), so only `head` learns.

    Args:
        encoder: a videossl encoder (`forward(x) -> [B,P+N,C]`, `embed_dim`,
            `num_prefix_tokens`).
        num_classes: K.
        pool: "mean" (average the N patch tokens) or "cls" (token 0).
        label_smoothing: for the cross-entropy loss.
        normalize: uint8 clip -> normalised float clip (`models/normalize.py`).
    """

    def __init__(
        self,
        *,
        encoder: nn.Module,
        num_classes: int,
        pool: str = "mean",
        label_smoothing: float = 0.0,
        normalize: nn.Module,
    ) -> None:
        super().__init__()
        self.normalize = normalize
        if pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {pool!r}")
        if pool == "cls" and encoder.num_prefix_tokens < 1:
            raise ValueError("pool='cls' needs an encoder with a cls token (MODEL.POOL mean?)")
        self.encoder = encoder
        self.pool = pool
        dim = encoder.embed_dim
        # MAE: BatchNorm without affine (eps 1e-6) in front of the linear layer.
        self.head = nn.Sequential(
            nn.BatchNorm1d(dim, affine=False, eps=1e-6), nn.Linear(dim, num_classes)
        )
        trunc_normal_(self.head[1].weight, std=0.01)
        nn.init.zeros_(self.head[1].bias)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.encoder.eval()

    def train(self, mode: bool = True) -> LinearProbe:
        super().train(mode)
        self.encoder.eval()
        return self

    def features(self, video: Tensor) -> Tensor:
        """uint8 video [B,3,T,H,W] -> pooled encoder features [B,C] (before the BatchNorm)."""
        with torch.no_grad():
            tokens = self.encoder(self.normalize(video))  # [B,P+N,C]
        return pool_tokens(tokens, self.pool, self.encoder.num_prefix_tokens).float()

    def forward(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        logits = self.head(self.features(batch["video"]))
        return {"loss_cls": self.criterion(logits.float(), batch["label"])}

    def predict(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        return {"logits": self.head(self.features(batch["video"]))}

    def no_weight_decay(self) -> set[str]:
        """Nothing beyond timm's automatic 1-D exclusions (the bias); the encoder is frozen."""
        return set()

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """One group: layer-wise decay has nothing to act on in a probe."""
        return {"head": r"^head"}


@OBJECTIVES.register("linear_probe", evaluator="ClassificationEvaluator")
def build_linear_probe(cfg: CfgNode) -> LinearProbe:
    """Encoder from MODEL.ARCH and its family node; MODEL.NUM_CLASSES, MODEL.POOL,
    MODEL.LABEL_SMOOTHING. Pretrained weights come from TRAIN.CHECKPOINT_FILE_PATH."""
    return LinearProbe(
        encoder=build_encoder(cfg),
        num_classes=cfg.MODEL.NUM_CLASSES,
        pool=cfg.MODEL.POOL,
        label_smoothing=cfg.MODEL.LABEL_SMOOTHING,
        normalize=build_normalize(cfg),
    )
