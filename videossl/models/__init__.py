"""Models: encoders (ViT, MViTv2), decoder, heads, objectives; importing fills the registries."""

from . import build, decoder, heads, layers, mvit, registry, vit
from .registry import ENCODERS, OBJECTIVES

__all__ = [
    "ENCODERS",
    "OBJECTIVES",
    "build",
    "decoder",
    "heads",
    "layers",
    "mvit",
    "registry",
    "vit",
]
