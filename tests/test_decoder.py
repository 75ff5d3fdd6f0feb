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
