"""Heads: video classification (mean / cls pooling) and the MaskFeat prediction head."""

from __future__ import annotations

from typing import Mapping, Union

from timm.layers import trunc_normal_
from torch import Tensor, nn


class ClassificationHead(nn.Module):
    """tokens [B,P+N,C] -> logits [B,num_classes].

    pool="mean": average the N patch tokens (prefix tokens skipped), then `fc_norm` (LayerNorm,
    VideoMAE style); pool="cls": token 0. Then dropout and `fc`. The fc weights are
    truncated-normal (std 0.02) scaled by `init_scale` (VideoMAE's head init scale, 0.001 for
    MaskFeat fine-tuning). VideoMAE checkpoint keys `fc_norm.*`/`head.*` map to
    `<head>.fc_norm.*`/`<head>.fc.*`.
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        *,
        pool: str = "mean",
        num_prefix_tokens: int = 0,
        fc_norm: bool = True,
        dropout: float = 0.0,
        init_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {pool!r}")
        if pool == "cls" and num_prefix_tokens < 1:
            raise ValueError("pool='cls' needs an encoder with a cls token (num_prefix_tokens=1)")
        self.pool = pool
        self.num_prefix_tokens = num_prefix_tokens
        self.fc_norm = nn.LayerNorm(in_dim, eps=1e-6) if fc_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_dim, num_classes)
        trunc_normal_(self.fc.weight, std=0.02)
        nn.init.zeros_(self.fc.bias)
        self.fc.weight.data.mul_(init_scale)

    def pool_features(self, x: Tensor) -> Tensor:
        """[B,P+N,C] -> pooled, normalised features [B,C]."""
        x = x[:, self.num_prefix_tokens :].mean(1) if self.pool == "mean" else x[:, 0]
        return self.fc_norm(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.pool_features(x)))


class MaskFeatHead(nn.Module):
    """LayerNorm + Linear per target: [B,N,C] -> [B,N,D].

    out_dim: an int gives one `proj` Linear and a Tensor output; a dict {name: dim} gives one
    Linear per target in `projs` and a dict {name: [B,N,dim]} output (e.g. HOG + pixels).
    """

    def __init__(self, in_dim: int, out_dim: Union[int, Mapping[str, int]]) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim, eps=1e-6)
        if isinstance(out_dim, int):
            self.proj = nn.Linear(in_dim, out_dim)
            self.projs = None
        else:
            self.proj = None
            self.projs = nn.ModuleDict({k: nn.Linear(in_dim, d) for k, d in out_dim.items()})
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Union[Tensor, dict[str, Tensor]]:
        x = self.norm(x)
        if self.proj is not None:
            return self.proj(x)
        return {k: p(x) for k, p in self.projs.items()}
