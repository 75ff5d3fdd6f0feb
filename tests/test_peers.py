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


# ---- mae_st: independent re-implementation of its models (facebookresearch/mae_st
# models_mae.MaskedAutoencoderViT, sep_pos_embed + cls_embed, and models_vit.VisionTransformer
# with global pooling), written from its code, on tiny sizes, with mae_st-layout weights. ----

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from videossl.models.decoder import MAEDecoder, decoder_preset  # noqa: E402
from videossl.models.heads import ClassificationHead  # noqa: E402
from videossl.models.vit import VisionTransformer3D  # noqa: E402
from videossl.pretrained import load_pretrained  # noqa: E402

C, DC, HEADS, P, T, S = 32, 16, 2, 8, 4, 32  # widths, heads, patch, frames, crop
GRID = (T // 2, S // P, S // P)
N = GRID[0] * GRID[1] * GRID[2]


def _r(*shape, scale=0.1):
    return torch.randn(*shape) * scale


def _blocks(prefix, depth, dim):
    sd = {}
    for i in range(depth):
        b = f"{prefix}.{i}."
        for n in "qkv":
            sd[b + f"attn.{n}.weight"], sd[b + f"attn.{n}.bias"] = _r(dim, dim), _r(dim)
        sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"] = _r(dim, dim), _r(dim)
        for n in ("norm1", "norm2"):
            sd[b + n + ".weight"], sd[b + n + ".bias"] = 1 + _r(dim), _r(dim)
        sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"] = _r(4 * dim, dim), _r(4 * dim)
        sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"] = _r(dim, 4 * dim), _r(dim)
    return sd


def _mae_st_encoder_sd():
    sd = _blocks("blocks", 2, C)
    sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"] = _r(C, 3, 2, P, P), _r(C)
    sd["cls_token"], sd["pos_embed_class"] = _r(1, 1, C), _r(1, 1, C)
    sd["pos_embed_spatial"], sd["pos_embed_temporal"] = _r(1, GRID[1] * GRID[2], C), _r(1, 2, C)
    sd["norm.weight"], sd["norm.bias"] = 1 + _r(C, scale=0.5), _r(C, scale=0.5)
    return sd


def mae_st_pretrain_sd(seed=0):
    torch.manual_seed(seed)
    sd = _mae_st_encoder_sd()
    sd.update(_blocks("decoder_blocks", 1, DC))
    sd["decoder_embed.weight"], sd["decoder_embed.bias"] = _r(DC, C), _r(DC, scale=0.5)
    sd["mask_token"], sd["decoder_cls_token"] = _r(1, 1, DC), _r(1, 1, DC, scale=0.5)
    sd["decoder_pos_embed_spatial"] = _r(1, GRID[1] * GRID[2], DC, scale=0.5)
    sd["decoder_pos_embed_temporal"] = _r(1, GRID[0], DC, scale=0.5)
    sd["decoder_pos_embed_class"] = _r(1, 1, DC, scale=0.5)
    sd["decoder_norm.weight"], sd["decoder_norm.bias"] = 1 + _r(DC), _r(DC)
    sd["decoder_pred.weight"], sd["decoder_pred.bias"] = _r(P * P * 3, DC), _r(P * P * 3)
    return sd


def mae_st_finetune_sd(seed=0, classes=5):
    torch.manual_seed(seed)
    sd = _mae_st_encoder_sd()  # `norm` here is mae_st's norm after mean pooling
    sd["head.weight"], sd["head.bias"] = _r(classes, C), _r(classes)
    return sd


def _ref_block(sd, b, x, heads):
    dim = x.shape[-1]

    def lin(t, name):
        return t @ sd[b + name + ".weight"].t() + sd[b + name + ".bias"]

    def ln(t, name):
        return F.layer_norm(t, (dim,), sd[b + name + ".weight"], sd[b + name + ".bias"], 1e-6)

    B, L, _ = x.shape
    h = ln(x, "norm1")
    q, k, v = (lin(h, f"attn.{n}").reshape(B, L, heads, -1).permute(0, 2, 1, 3) for n in "qkv")
    a = (q @ k.transpose(-2, -1)) * (dim // heads) ** -0.5
    x = x + lin((a.softmax(-1) @ v).transpose(1, 2).reshape(B, L, dim), "attn.proj")
    h = F.gelu(lin(ln(x, "norm2"), "mlp.fc1"))
    return x + lin(h, "mlp.fc2")


def _sep_pos(sd, stem):
    t, h, w = GRID
    return sd[stem + "_spatial"].repeat(1, t, 1) + torch.repeat_interleave(
        sd[stem + "_temporal"], h * w, dim=1
    )


def _ref_patches(sd, x):
    y = F.conv3d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=(2, P, P))
    return torch.einsum("ncts->ntsc", y.flatten(3)).reshape(x.shape[0], N, C)


def mae_st_pretrain_reference(sd, x, noise, mask_ratio=0.75):
    """MaskedAutoencoderViT.forward_encoder + forward_decoder -> (pred [B,N,D], mask [B,N])."""
    B = x.shape[0]
    tokens = _ref_patches(sd, x)
    len_keep = int(N * (1 - mask_ratio))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    h = torch.gather(tokens, 1, ids_keep[..., None].repeat(1, 1, C))
    pos = torch.gather(
        _sep_pos(sd, "pos_embed").expand(B, -1, -1), 1, ids_keep[..., None].repeat(1, 1, C)
    )
    h = torch.cat([sd["cls_token"].expand(B, -1, -1), h], 1)
    h = h + torch.cat([sd["pos_embed_class"].expand(B, -1, -1), pos], 1)
    for i in range(2):
        h = _ref_block(sd, f"blocks.{i}.", h, HEADS)
    h = F.layer_norm(h, (C,), sd["norm.weight"], sd["norm.bias"], 1e-6)[:, 1:]
    d = h @ sd["decoder_embed.weight"].t() + sd["decoder_embed.bias"]
    d = torch.cat([d, sd["mask_token"].repeat(B, N - d.shape[1], 1)], 1)
    d = torch.gather(d, 1, ids_restore[..., None].repeat(1, 1, DC))
    d = torch.cat([sd["decoder_cls_token"].expand(B, -1, -1), d], 1)
    d = d + torch.cat([sd["decoder_pos_embed_class"], _sep_pos(sd, "decoder_pos_embed")], 1)
    d = _ref_block(sd, "decoder_blocks.0.", d, HEADS)
    d = F.layer_norm(d, (DC,), sd["decoder_norm.weight"], sd["decoder_norm.bias"], 1e-6)
    pred = (d @ sd["decoder_pred.weight"].t() + sd["decoder_pred.bias"])[:, 1:]
    mask = torch.ones(B, N)
    mask[:, :len_keep] = 0
    return pred, torch.gather(mask, 1, ids_restore).bool()


def mae_st_finetune_reference(sd, x):
    """models_vit.VisionTransformer.forward (eval: dropout off)."""
    B = x.shape[0]
    h = torch.cat([sd["cls_token"].expand(B, -1, -1), _ref_patches(sd, x)], 1)
    h = h + torch.cat([sd["pos_embed_class"], _sep_pos(sd, "pos_embed")], 1)
    for i in range(2):
        h = _ref_block(sd, f"blocks.{i}.", h, HEADS)
    h = F.layer_norm(h[:, 1:].mean(1), (C,), sd["norm.weight"], sd["norm.bias"], 1e-6)
    return h @ sd["head.weight"].t() + sd["head.bias"]


class _Objective(nn.Module):
    def __init__(self, **parts):
        super().__init__()
        for k, v in parts.items():
            setattr(self, k, v)


def _our_encoder(final_norm=True):
    return VisionTransformer3D(
        img_size=S,
        num_frames=T,
        patch_size=P,
        embed_dim=C,
        depth=2,
        num_heads=HEADS,
        pos_embed="separable",
        cls_token=True,
        qkv_bias="fused",
        final_norm=final_norm,
    )


def _our_mae_st_decoder():
    kw = decoder_preset("mae_st")
    kw.update(decoder_dim=DC, depth=1, num_heads=HEADS, out_dim=P * P * 3)
    return MAEDecoder(encoder_dim=C, grid=GRID, **kw)


def test_mae_st_pretrain_checkpoint_gives_mae_st_decoder_output():
    sd = mae_st_pretrain_sd()
    model = _Objective(encoder=_our_encoder(), decoder=_our_mae_st_decoder()).eval()
    report = load_pretrained(model, {"model": sd, "epoch": 3})
    assert report.fmt == "mae_st" and not report.missing and not report.unexpected
    assert not report.problems
    x = torch.randn(2, 3, T, S, S)
    noise = torch.rand(2, N, generator=torch.Generator().manual_seed(0))
    ref, mask = mae_st_pretrain_reference(sd, x, noise)
    with torch.no_grad():
        latent = model.encoder.forward_visible(x, mask)[:, 1:]
        ours = model.decoder(latent, mask)
        every = model.decoder(latent, mask, torch.ones_like(mask))  # visible rows too
    torch.testing.assert_close(ours, ref[mask].reshape(ours.shape), atol=1e-4, rtol=0)
    # mae_st decodes all tokens; predicting the visible ones as well only adds queries, so
    # this differs: only the default (masked positions) is mae_st's decoder.
    assert every.shape == (2, N, P * P * 3)


def test_mae_st_finetune_checkpoint_gives_mae_st_logits():
    sd = mae_st_finetune_sd()
    head = ClassificationHead(C, 5, pool="mean", num_prefix_tokens=1, fc_norm=True)
    model = _Objective(encoder=_our_encoder(final_norm=False), head=head).eval()
    report = load_pretrained(model, {"model": sd})
    assert not report.missing and not report.unexpected and not report.problems
    x = torch.randn(2, 3, T, S, S)
    with torch.no_grad():
        ours = model.head(model.encoder(x))
    torch.testing.assert_close(ours, mae_st_finetune_reference(sd, x), atol=1e-4, rtol=0)


def test_mae_st_pretrain_into_classifier_follows_mae_st_finetuning():
    # mae_st's main_finetune loads the pretrained encoder `norm` into its post-pool norm and
    # ignores the decoder; the classifier starts fresh.
    sd = mae_st_pretrain_sd()
    head = ClassificationHead(C, 5, pool="mean", num_prefix_tokens=1, fc_norm=True)
    model = _Objective(encoder=_our_encoder(final_norm=False), head=head)
    report = load_pretrained(model, {"model": sd})
    assert report.moved == [
        "encoder.norm.weight -> head.fc_norm.weight",
        "encoder.norm.bias -> head.fc_norm.bias",
    ]
    torch.testing.assert_close(model.head.fc_norm.weight, sd["norm.weight"])
    assert report.missing == ["head.fc.bias", "head.fc.weight"] and not report.problems


def test_mae_st_every_key_mapped_both_kinds():
    for sd in (mae_st_pretrain_sd(), mae_st_finetune_sd()):
        out = convert_mae_st(sd)
        fused = sum(1 for k in sd if ".attn.q." in k or ".attn.k." in k or ".attn.v." in k)
        assert len(out) == len(sd) - fused * 2 // 3
        assert {k.split(".")[0] for k in out} <= {"encoder", "head", "decoder"}
    assert convert_mae_st(mae_st_finetune_sd())["head.fc_norm.weight"] is not None
    assert "encoder.norm.weight" in convert_mae_st(mae_st_pretrain_sd())
    with pytest.raises(ValueError, match="no mapping"):
        convert_mae_st({**mae_st_finetune_sd(), "extra_thing": torch.ones(1)})
