"""VideoMAE v1/v2 checkpoints -> our layout (docs/reference.md §8).

Pretraining saves `encoder.*` (qkv without bias, separate `q_bias`/`v_bias`), the top-level
`encoder_to_decoder` (no bias) and `mask_token`, and `decoder.{blocks,norm,head}`; fine-tuned
models save the encoder at the top level plus `fc_norm` and `head`. VideoMAE v2 / mmaction
wrappers may use `backbone.` instead of `encoder.`. Fixed sin-cos position embeddings are not
stored. Mapping (ours <- VideoMAE):

    encoder.X                   <- encoder.X | backbone.X | X (fine-tuned)
    decoder.encoder_to_decoder  <- encoder_to_decoder
    decoder.mask_token          <- mask_token
    decoder.{blocks,norm,head}  <- decoder.{blocks,norm,head}
    head.fc_norm.*              <- fc_norm.*
    head.fc.*                   <- head.*

q_bias/v_bias are kept; `load_pretrained` fuses them into a qkv bias (zero k bias) when the
target model uses fused biases.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor


def convert_videomae(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """VideoMAE state dict (wrappers and `module.`/`_orig_mod.` already removed) -> our layout."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith(("encoder.", "backbone.")):
            new = "encoder." + key.split(".", 1)[1]
        elif key == "encoder_to_decoder.weight" or key == "mask_token":
            new = "decoder." + key
        elif key.startswith(("decoder.", "head.fc.", "head.fc_norm.")):
            new = key
        elif key.startswith("fc_norm."):
            new = "head." + key
        elif key.startswith("head."):
            new = "head.fc." + key[len("head.") :]
        else:
            new = "encoder." + key
        out[new] = value
    return out
