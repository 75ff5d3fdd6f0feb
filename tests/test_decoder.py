import pytest
import torch

from videossl.models.decoder import MAEDecoder, decoder_preset


def _mask(b=2, n=32, masked=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(n, generator=g) < masked for _ in range(b)])


def _decoder(**kw):
    torch.manual_seed(0)
    args = dict(encoder_dim=32, grid=(2, 4, 4), decoder_dim=16, num_heads=2, out_dim=10)
    return MAEDecoder(**{**args, **kw})


@pytest.mark.parametrize("pos", ["sincos", "learned"])
def test_shapes_default_and_decode_mask(pos):
    dec = _decoder(pos_embed=pos)
    mask = _mask()
    x = torch.randn(2, 8, 32, requires_grad=True)
    out = dec(x, mask)
    assert out.shape == (2, 24, 10)
    decode = mask.clone()
    for b in range(2):  # keep 12 of the 24 masked positions
        decode[b, mask[b].nonzero()[:12, 0]] = False
    out2 = dec(x, mask, decode)
    assert out2.shape == (2, 12, 10)
    (out.sum() + out2.sum()).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_rows_in_token_order_and_permutation_equivariant():
    # Decoding every masked token: the rows for masked positions are in token order, so the
    # same tokens fed with a permuted mask pattern give the permuted rows.
    dec = _decoder().eval()
    mask = torch.zeros(1, 32, dtype=torch.bool)
    mask[0, 8:] = True
    x = torch.randn(1, 8, 32)
    out = dec(x, mask)
    # Token 31 alone in the decode set vs all: decode_mask picks exactly that row position.
    only_last = torch.zeros_like(mask)
    only_last[0, 31] = True
    assert dec(x, mask, only_last).shape == (1, 1, 10)
    assert out.shape == (1, 24, 10)
    torch.testing.assert_close(dec(x, mask, mask), out)


def test_decode_counts_checked_and_visible_positions_decodable():
    dec = _decoder()
    mask = _mask()
    assert dec(torch.randn(2, 8, 32), mask, ~mask).shape == (2, 8, 10)  # VideoMAE v2 allows it
    uneven = mask.clone()
    uneven[0, mask[0].nonzero()[0, 0]] = False
    with pytest.raises(ValueError, match="decoded counts"):
        dec(torch.randn(2, 8, 32), mask, uneven)
    with pytest.raises(ValueError, match="visible"):
        dec(torch.randn(2, 9, 32), mask)


def test_learned_pos_embed_other_grid():
    dec = _decoder(pos_embed="learned")
    mask = torch.zeros(1, 64, dtype=torch.bool)
    mask[0, 16:] = True
    assert dec(torch.randn(1, 16, 32), mask, grid=(4, 4, 4)).shape == (1, 48, 10)
    with pytest.raises(ValueError, match="grid"):
        dec(torch.randn(1, 16, 32), mask)


def test_videomae_layout_and_presets():
    dec = MAEDecoder(encoder_dim=768, num_patches=1568, **decoder_preset("videomae_b"))
    names = dict(dec.named_parameters())
    assert names["encoder_to_decoder.weight"].shape == (384, 768)
    assert "encoder_to_decoder.bias" not in names
    assert names["blocks.3.attn.q_bias"].shape == (384,)
    assert names["head.weight"].shape == (1536, 384)
    assert decoder_preset("mae_st")["decoder_dim"] == 512
    with pytest.raises(ValueError, match="preset"):
        decoder_preset("nope")


# ---- VideoMAE v2: independent re-implementation of PretrainVisionTransformer.forward's
# decoder part (models/modeling_pretrain.py) and of the loss in engine_for_pretraining.py. ----

import math  # noqa: E402

import numpy as np  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from videossl.masking import running_cell_mask  # noqa: E402


def _sinusoid_table(n, d):
    table = np.array([[p / np.power(10000, 2 * (j // 2) / d) for j in range(d)] for p in range(n)])
    table[:, 0::2], table[:, 1::2] = np.sin(table[:, 0::2]), np.cos(table[:, 1::2])
    return torch.tensor(table, dtype=torch.float32)[None]


def _videomae_block(sd, b, x, heads):
    d = x.shape[-1]

    def ln(t, n):
        return F.layer_norm(t, (d,), sd[b + n + ".weight"], sd[b + n + ".bias"], 1e-6)

    B, L, _ = x.shape
    bias = torch.cat([sd[b + "attn.q_bias"], torch.zeros(d), sd[b + "attn.v_bias"]])
    qkv = F.linear(ln(x, "norm1"), sd[b + "attn.qkv.weight"], bias)
    q, k, v = qkv.reshape(B, L, 3, heads, -1).permute(2, 0, 3, 1, 4)
    a = ((q * (d // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
    o = (a @ v).transpose(1, 2).reshape(B, L, d)
    x = x + F.linear(o, sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"])
    h = F.gelu(F.linear(ln(x, "norm2"), sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"]))
    return x + F.linear(h, sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"])


def videomae_v2_decode(sd, x_vis, mask, decode_mask_v2, heads):
    """mask: True = hidden from the encoder; decode_mask_v2: VideoMAE v2's map (True = NOT
    decoded). Returns the decoder output for the ~decode_mask_v2 positions."""
    decode_vis = ~decode_mask_v2
    x_vis = x_vis @ sd["encoder_to_decoder.weight"].t()
    B, _, Cd = x_vis.shape
    pos = _sinusoid_table(mask.shape[1], Cd).expand(B, -1, -1)
    x_full = torch.cat(
        [
            x_vis + pos[~mask].reshape(B, -1, Cd),
            sd["mask_token"] + pos[decode_vis].reshape(B, -1, Cd),
        ],
        dim=1,
    )
    n = int(decode_vis[0].sum())
    for i in range(len({k.split(".")[1] for k in sd if k.startswith("blocks.")})):
        x_full = _videomae_block(sd, f"blocks.{i}.", x_full, heads)
    x = F.layer_norm(x_full[:, -n:], (Cd,), sd["norm.weight"], sd["norm.bias"], 1e-6)
    return F.linear(x, sd["head.weight"], sd["head.bias"])


def _randomise(module, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)


def test_running_cell_decoding_equals_videomae_v2():
    grid = (2, 4, 4)
    dec = _decoder(depth=2).eval()
    _randomise(dec)
    mask = torch.stack(
        [torch.randperm(32, generator=torch.Generator().manual_seed(s)) < 24 for s in range(2)]
    )  # 8 visible per sample
    decode = torch.stack([running_cell_mask(grid, 0.5, offset=o).flatten() for o in (0, 3)])
    assert bool((decode & ~mask).any())  # some decoded positions are visible to the encoder
    x = torch.randn(2, 8, 32)
    with torch.no_grad():
        ours = dec(x, mask, decode)
        ref = videomae_v2_decode(dec.state_dict(), x, mask, ~decode, heads=2)
    assert ours.shape == (2, 16, 10)  # all 16 running-cell positions, visible ones included
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_mae_objective_running_cell_loss_is_videomae_v2_loss():
    from videossl.config import load_config
    from videossl.models.build import build_model

    opts = ["VIT.PRESET", "custom", "VIT.EMBED_DIM", "32", "VIT.DEPTH", "1", "VIT.NUM_HEADS"]
    opts += ["2", "DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "64", "MODEL.DECODER_DIM"]
    opts += ["16", "MODEL.DECODER_HEADS", "2", "MODEL.OBJECTIVE", "mae", "MASK.TYPE", "tube"]
    opts += ["MASK.RATIO", "0.75", "MASK.UNIT", "[2, 16, 16]", "TARGET.NAMES", "['pixel']"]
    opts += ["MASK.DECODER_TYPE", "running_cell", "MASK.DECODER_RATIO", "0.5"]
    model = build_model(load_config([], opts)).eval()
    grid = (2, 4, 4)
    decode = torch.stack([running_cell_mask(grid, 0.5, offset=o).flatten() for o in (1, 2)])
    model.decoder_masker = lambda mask, grid, seeds: decode
    g = torch.Generator().manual_seed(0)
    video = torch.randint(0, 256, (2, 3, 4, 64, 64), generator=g, dtype=torch.uint8)
    mask = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    mask.view(2, -1)[:, :12] = True
    mask = mask.expand(2, 2, 4, 4).contiguous()
    with torch.no_grad():
        loss = model({"video": video, "mask": mask})["loss_pixel"]
        flat = mask.flatten(1)
        latent = model.encoder.forward_visible(model.normalize(video), flat)
        out = videomae_v2_decode(model.decoder.state_dict(), latent, flat, ~decode, heads=2)
        pixels = video.float() / 255  # VideoMAE's target is on [0,1] pixels
        labels = model.target(pixels)[decode].reshape(2, -1, out.shape[-1])
        per = ((out - labels) ** 2).mean(-1)
        cal = flat[decode].reshape(2, -1).float()  # engine: bool_masked_pos[~decode_masked_pos]
    assert 0 < cal.sum() < cal.numel()
    torch.testing.assert_close(loss, (per * cal).sum() / cal.sum(), atol=1e-5, rtol=1e-5)
    assert math.isfinite(float(loss))


def test_mae_st_recipe_builds_mae_st_decoder_and_videomae_recipe_keeps_its_own():
    import os

    from videossl.config import load_config
    from videossl.models.build import build_model

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
    tiny = ["VIT.PRESET", "custom", "VIT.EMBED_DIM", "32", "VIT.DEPTH", "1", "VIT.NUM_HEADS"]
    tiny += ["2", "DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32", "MODEL.DECODER_DIM"]
    tiny += ["16", "MODEL.DECODER_HEADS", "2", "MODEL.DECODER_DEPTH", "1"]
    cfg = load_config([os.path.join(root, "kinetics", "VIT_B_16x4_MAE_PT.yaml")], tiny)
    names = dict(build_model(cfg).decoder.named_parameters())
    for key in (
        "encoder_to_decoder.bias",
        "cls_token",
        "pos_embed_class",
        "blocks.0.attn.qkv.bias",
    ):
        assert key in names
    assert names["pos_embed_spatial"].shape == (1, 4, 16)
    assert names["pos_embed_temporal"].shape == (1, 2, 16)
    cfg = load_config([os.path.join(root, "kinetics", "VIT_B_16x4_VideoMAE_PT.yaml")], tiny)
    names = dict(build_model(cfg).decoder.named_parameters())
    assert "encoder_to_decoder.bias" not in names and "cls_token" not in names
    assert "blocks.0.attn.q_bias" in names and not any("pos_embed" in k for k in names)
