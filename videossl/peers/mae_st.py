"""MAE-spacetime (facebookresearch/mae_st) and PySlowFast MAE-ViT checkpoints -> our layout.

mae_st saves two kinds of model, told apart by their keys:

- pretraining (`models_mae.MaskedAutoencoderViT`, has `decoder_*` keys): the encoder's final
  `norm` runs on every token before the decoder;
- fine-tuning (`models_vit.VisionTransformer`, has `head.*` and no decoder): there is no norm
  on the tokens; `norm` runs on the mean-pooled patch tokens (`x[:, 1:].mean(1)`), i.e. it
  is our classification head's `fc_norm`.

Every key is mapped (ours <- mae_st); anything else raises ValueError:

    encoder.patch_embed.proj.*          <- patch_embed.proj.*
    encoder.cls_token                   <- cls_token
    encoder.pos_embed_{spatial,temporal,class} / encoder.pos_embed
                                        <- the same names (sep_pos_embed or joint table)
    encoder.blocks.i.attn.qkv.*         <- blocks.i.attn.{q,k,v}.* (concatenated q, k, v)
    encoder.blocks.i.*                  <- blocks.i.{norm1,norm2,attn.proj,mlp.fc1,mlp.fc2}.*
    encoder.norm.*                      <- norm.*              (pretraining)
    head.fc_norm.*                      <- norm.* | fc_norm.*  (fine-tuning)
    head.fc.*                           <- head.*
    decoder.encoder_to_decoder.*        <- decoder_embed.*     (weight and bias)
    decoder.mask_token                  <- mask_token
    decoder.cls_token                   <- decoder_cls_token
    decoder.pos_embed_{spatial,temporal,class} / decoder.pos_embed
                                        <- decoder_pos_embed_{spatial,temporal,class} / ..._embed
    decoder.blocks.i.*                  <- decoder_blocks.i.* (q/k/v fused as above)
    decoder.norm.*, decoder.head.*      <- decoder_norm.*, decoder_pred.*

The encoder is our ViT with pos_embed="separable" (or "learned"), cls_token=True, qkv_bias
"fused", tubelet 2; the decoder is `MAEDecoder(**decoder_preset("mae_st"))`. mae_st's
fine-tuning pools `x[:, 1:]` even without a cls token (it then drops the first patch token);
our head pools all patch tokens, so only cls_embed=True fine-tuned models (mae_st's default)
give mae_st's logits.

PySlowFast's MAE ViT (`MaskMViT` configured without pooling) stores the same names with a
fused `attn.qkv` (or separate q/k/v with SEPARATE_QKV) and `head.projection` as classifier.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from torch import Tensor

from . import fuse_separate_qkv

logger = logging.getLogger(__name__)

_BLOCK = r"blocks\.\d+\.(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)"
_ENCODER = re.compile(
    rf"^(patch_embed\.proj\.(weight|bias)|cls_token|pos_embed|pos_embed_spatial"
    rf"|pos_embed_temporal|pos_embed_class|{_BLOCK})$"
)
_DECODER = {  # mae_st name -> ours (exact names)
    "mask_token": "decoder.mask_token",
    "decoder_cls_token": "decoder.cls_token",
    "decoder_pos_embed": "decoder.pos_embed",
    "decoder_pos_embed_spatial": "decoder.pos_embed_spatial",
    "decoder_pos_embed_temporal": "decoder.pos_embed_temporal",
    "decoder_pos_embed_class": "decoder.pos_embed_class",
}
_DECODER_PREFIX = (
    (
        re.compile(r"^decoder_embed\.(weight|bias)$"),
        "decoder_embed.",
        "decoder.encoder_to_decoder.",
    ),
    (re.compile(rf"^decoder_{_BLOCK}$"), "decoder_blocks.", "decoder.blocks."),
    (re.compile(r"^decoder_norm\.(weight|bias)$"), "decoder_norm.", "decoder.norm."),
    (re.compile(r"^decoder_pred\.(weight|bias)$"), "decoder_pred.", "decoder.head."),
)


def mae_st_kind(state: Mapping[str, Tensor]) -> str:
    """ "pretrain" (MaskedAutoencoderViT: decoder keys) or "finetune" (VisionTransformer)."""
    if any(k.startswith(("decoder_", "decoder.")) or k == "mask_token" for k in state):
        return "pretrain"
    return "finetune" if any(k.startswith("head.") for k in state) else "pretrain"


def _rename(key: str, kind: str) -> str | None:
    if _ENCODER.match(key):
        return "encoder." + key
    if key in _DECODER:
        return _DECODER[key]
    for pattern, old, new in _DECODER_PREFIX:
        if pattern.match(key):
            return new + key[len(old) :]
    if key in ("norm.weight", "norm.bias"):
        return ("encoder." if kind == "pretrain" else "head.fc_") + key
    if key in ("fc_norm.weight", "fc_norm.bias"):
        return "head." + key
    if key in ("head.weight", "head.bias"):
        return "head.fc." + key[len("head.") :]
    if key in ("head.projection.weight", "head.projection.bias"):
        return "head.fc." + key[len("head.projection.") :]
    return None


def _convert(state: Mapping[str, Tensor], kind: str) -> dict[str, Tensor]:
    fused = fuse_separate_qkv(dict(state))
    out, unknown = {}, []
    for key, value in fused.items():
        new = _rename(key, kind)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        raise ValueError(f"mae_st checkpoint keys with no mapping to our layout: {sorted(unknown)}")
    return out


def convert_mae_st(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """mae_st state dict (wrappers removed), pretraining or fine-tuning -> our layout.

    ValueError if the tubelet is not 2 or a key has no mapping."""
    proj = state.get("patch_embed.proj.weight")
    if proj is not None and proj.dim() == 5 and proj.shape[2] != 2:
        raise ValueError(
            f"mae_st checkpoint has t_patch_size={proj.shape[2]} (patch_embed.proj.weight "
            f"{tuple(proj.shape)}); videossl's MAE-ST layout needs t_patch_size 2"
        )
    kind = mae_st_kind(state)
    if kind == "finetune" and "cls_token" not in state:
        logger.warning(
            "mae_st fine-tuned checkpoint without a cls token: mae_st pools x[:, 1:] and so "
            "skips the first patch token; our head pools all patch tokens"
        )
    return _convert(state, kind)


def convert_pyslowfast_vit(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """PySlowFast MAE-ViT model_state (wrappers removed) -> our layout (`norm` = the encoder's
    final norm, `head.projection` = the classifier)."""
    return _convert(state, "pretrain")
