"""A toy objective and dataset for engine tests (imported by tests and tests/train_toy.py)."""

import torch
from torch import nn


class NoisyDataset(torch.utils.data.Dataset):
    """Random 'augmentation' drawn from the global RNG, as real transforms do."""

    def __init__(self, size: int = 24):
        self.size = size

    def __len__(self):
        return self.size

    def __getitem__(self, i):
        x = torch.full((4,), float(i % 7)) / 7 + torch.randn(4)
        return {"video": x, "label": torch.tensor(i % 3)}


class ToyObjective(nn.Module):
    def __init__(self, explode_at=None, dropout: float = 0.5):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.drop = nn.Dropout(dropout)
        self.calls = 0
        self.explode_at = explode_at

    def forward(self, batch):
        self.calls += 1
        logits = self.fc(self.drop(batch["video"]))
        loss = nn.functional.cross_entropy(logits, batch["label"])
        if self.explode_at is not None and self.calls == self.explode_at:
            loss = loss * float("nan")
        return {"loss_cls": loss}
