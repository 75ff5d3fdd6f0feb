import importlib.util
import os

import pytest
import torch

from videossl.models.vit import VisionTransformer3D
from videossl.pretrained import load_pretrained

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(img_size=32, num_frames=4, patch_size=8, embed_dim=32, depth=2, num_heads=2)


def _tool():
    spec = importlib.util.spec_from_file_location(
        "convert_checkpoint", os.path.join(ROOT, "tools", "convert_checkpoint.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_videomae_round_trip(tmp_path):
    torch.manual_seed(0)
    src_model = VisionTransformer3D(**TINY, qkv_bias="qv")
    sd = {"encoder." + k: v for k, v in src_model.state_dict().items()}
    sd["encoder_to_decoder.weight"] = torch.zeros(16, 32)
    src, out = tmp_path / "videomae.pth", tmp_path / "ours.pth"
    torch.save({"model": sd}, src)
    assert _tool().main(["--src", str(src), "--format", "videomae", "--out", str(out)]) == 0
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["meta"]["format"] == "videomae"
    assert all(k.startswith("encoder.") for k in ckpt["model"])
    dst = VisionTransformer3D(**TINY, qkv_bias="qv")
    report = load_pretrained(dst, str(out))
    assert report.fmt == "ours" and not report.missing and not report.unexpected
    x = torch.randn(1, 3, 4, 32, 32)
    torch.testing.assert_close(dst.eval()(x), src_model.eval()(x))


def test_help_and_bad_include(tmp_path, capsys):
    tool = _tool()
    with pytest.raises(SystemExit) as e:
        tool.main(["--help"])
    assert e.value.code == 0 and "--format" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown part"):
        tool.main(["--src", "x", "--out", str(tmp_path / "y"), "--include", "encoder,bogus"])


def test_mae_st_pretrain_checkpoint_every_part_round_trip(tmp_path):
    from test_peers import _Objective, _our_encoder, _our_mae_st_decoder, mae_st_pretrain_sd

    sd = mae_st_pretrain_sd()
    src, out = tmp_path / "mae_st.pth", tmp_path / "ours.pth"
    torch.save({"model": sd, "epoch": 10}, src)
    args = ["--src", str(src), "--out", str(out), "--include", "encoder,decoder"]
    assert _tool().main(args) == 0
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["meta"]["format"] == "mae_st"
    fused = sum(1 for k in sd if ".attn." in k and k.split(".")[-2] in "qkv")
    assert ckpt["meta"]["num_tensors"] == len(sd) - fused * 2 // 3  # every key kept
    model = _Objective(encoder=_our_encoder(), decoder=_our_mae_st_decoder())
    report = load_pretrained(model, str(out))
    assert report.fmt == "ours" and not report.missing and not report.unexpected
    torch.testing.assert_close(model.decoder.encoder_to_decoder.bias, sd["decoder_embed.bias"])
    torch.testing.assert_close(model.decoder.cls_token, sd["decoder_cls_token"])
