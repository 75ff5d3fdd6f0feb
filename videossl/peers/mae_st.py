"""MAE-spacetime (facebookresearch/mae_st) and PySlowFast MAE-ViT checkpoints -> our layout.

mae_st: separate `attn.q/k/v` Linear layers with biases (fused here into `attn.qkv`), learned
separable position embeddings `pos_embed_spatial` [1,h*w,C], `pos_embed_temporal` [1,t,C],
`pos_embed_class` [1,1,C] (kept; our ViT with pos_embed="separable" takes them as they are,
`load_pretrained` joins them for pos_embed="learned"), tubelet (`t_patch_size`) 2. Pretraining
adds `decoder_embed`, `mask_token`, `decoder_blocks`, `decoder_norm`, `decoder_pred`,
`decoder_pos_embed*`; fine-tuning adds `head` (and `fc_norm` with global pooling).

PySlowFast's MAE ViT (`MaskMViT` configured without pooling) stores the same names with a
fused `attn.qkv` (or separate q/k/v with SEPARATE_QKV) and `head.projection` as classifier.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from . import fuse_separate_qkv

_DECODER_RENAMES = (
    ("decoder_embed.", "decoder.encoder_to_decoder."),
    ("mask_token", "decoder.mask_token"),
    ("decoder_blocks.", "decoder.blocks."),
    ("decoder_norm.", "decoder.norm."),
    ("decoder_pred.", "decoder.head."),
    ("decoder_pos_embed", "decoder.pos_embed"),
)


def _rename(key: str) -> str:
    for old, new in _DECODER_RENAMES:
        if key.startswith(old):
            return new + key[len(old) :]
    if key.startswith("fc_norm."):
        return "head." + key
    if key.startswith("head.projection."):
        return "head.fc." + key[len("head.projection.") :]
    if key.startswith("head."):
        return "head.fc." + key[len("head.") :]
    return "encoder." + key


def convert_mae_st(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """mae_st state dict (wrappers removed) -> our layout. ValueError if the tubelet is not 2."""
    proj = state.get("patch_embed.proj.weight")
    if proj is not None and proj.dim() == 5 and proj.shape[2] != 2:
        raise ValueError(
            f"mae_st checkpoint has t_patch_size={proj.shape[2]} (patch_embed.proj.weight "
            f"{tuple(proj.shape)}); videossl's MAE-ST layout needs t_patch_size 2"
        )
    fused = fuse_separate_qkv(dict(state))
    return {_rename(k): v for k, v in fused.items()}


def convert_pyslowfast_vit(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """PySlowFast MAE-ViT model_state (wrappers removed) -> our layout."""
    fused = fuse_separate_qkv(dict(state))
    return {_rename(k): v for k, v in fused.items()}
