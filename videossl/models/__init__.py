"""Models: encoders (ViT, MViTv2), decoder, heads; importing fills the ENCODERS registry.

The objectives (OBJECTIVES registry) are registered by `videossl.models.build`.
"""

from . import decoder, heads, layers, mvit, registry, vit
from .registry import ENCODERS, OBJECTIVES

__all__ = ["ENCODERS", "OBJECTIVES", "decoder", "heads", "layers", "mvit", "registry", "vit"]
