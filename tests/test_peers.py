import pytest
import torch

from videossl.peers import fuse_separate_qkv, rename_prefix
from videossl.peers.mae_st import convert_mae_st, convert_pyslowfast_vit
from videossl.peers.videomae import convert_videomae


def test_videomae_pretrain_and_finetune_keys():
    t = torch.zeros(1)
    out = convert_videomae(
        {
            "encoder.blocks.0.attn.q_bias": t,
            "backbone.norm.weight": t,
            "encoder_to_decoder.weight": t,
            "mask_token": t,
            "decoder.head.weight": t,
        }
    )
    assert sorted(out) == [
        "decoder.encoder_to_decoder.weight",
        "decoder.head.weight",
        "decoder.mask_token",
        "encoder.blocks.0.attn.q_bias",
        "encoder.norm.weight",
    ]
    out = convert_videomae({"blocks.0.mlp.fc1.weight": t, "fc_norm.bias": t, "head.weight": t})
    assert sorted(out) == ["encoder.blocks.0.mlp.fc1.weight", "head.fc.weight", "head.fc_norm.bias"]


def test_fuse_separate_qkv_order():
    sd = {f"blocks.0.attn.{n}.weight": torch.full((2, 2), float(i)) for i, n in enumerate("qkv")}
    fused = fuse_separate_qkv(sd)
    assert list(fused) == ["blocks.0.attn.qkv.weight"]
    assert fused["blocks.0.attn.qkv.weight"][:, 0].tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="separate q/k/v"):
        fuse_separate_qkv({"blocks.0.attn.q.weight": torch.ones(1)})


def test_mae_st_pretrain_keys_and_tubelet_check():
    t = torch.zeros(1)
    sd = {
        "patch_embed.proj.weight": torch.zeros(4, 3, 2, 16, 16),
        "pos_embed_spatial": t,
        "decoder_embed.weight": t,
        "decoder_blocks.1.norm1.weight": t,
        "decoder_pred.bias": t,
        "decoder_norm.weight": t,
        "mask_token": t,
        "head.weight": t,
    }
    out = convert_mae_st(sd)
    assert sorted(out) == [
        "decoder.blocks.1.norm1.weight",
        "decoder.encoder_to_decoder.weight",
        "decoder.head.bias",
        "decoder.mask_token",
        "decoder.norm.weight",
        "encoder.patch_embed.proj.weight",
        "encoder.pos_embed_spatial",
        "head.fc.weight",
    ]
    with pytest.raises(ValueError, match="t_patch_size"):
        convert_mae_st({"patch_embed.proj.weight": torch.zeros(4, 3, 4, 16, 16)})


def test_pyslowfast_vit_head_projection():
    out = convert_pyslowfast_vit(
        {"head.projection.weight": torch.ones(1), "blocks.0.attn.qkv.bias": torch.ones(3)}
    )
    assert sorted(out) == ["encoder.blocks.0.attn.qkv.bias", "head.fc.weight"]


def test_rename_prefix():
    assert list(rename_prefix({"a.x": 1, "b.y": 2}, "a.", "z.")) == ["z.x", "b.y"]
