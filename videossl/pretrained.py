"""Load pretrained weights (ours or a peer's layout) into a model, fitting shapes and logging
exactly what was loaded, missing, unexpected, interpolated or skipped.

Which module receives the encoder weights: `target_prefix` names the model's encoder attribute
(e.g. "encoder." for videossl's objectives, "" when `model` is the encoder itself). By default it
is "encoder." when the model has parameters under `encoder.`, else "". Head (`head.`) and
decoder (`decoder.`) weights are loaded only when target_prefix is "encoder." (an objective).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from typing import Any, Sequence, Union

import torch
from torch import Tensor, nn

from .models.layers import resize_1d, resize_2d, resize_pos_embed, square_side
from .peers.mae_st import convert_mae_st, convert_pyslowfast_vit
from .peers.videomae import convert_videomae

logger = logging.getLogger(__name__)

FORMATS = ("auto", "ours", "videomae", "mae_st", "pyslowfast")
_WRAPPERS = ("model", "module", "model_state", "state_dict")
_STRIP = ("module.", "_orig_mod.")


@dataclasses.dataclass
class LoadReport:
    """What `load_pretrained` did, by target key (unexpected: by source key)."""

    fmt: str = ""
    loaded: list[str] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    interpolated: list[str] = dataclasses.field(default_factory=list)
    skipped_shape: list[str] = dataclasses.field(default_factory=list)
    moved: list[str] = dataclasses.field(default_factory=list)
    ignored: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)

    def log(self, log: logging.Logger = logger) -> None:
        log.info(
            "pretrained (%s): %d loaded, %d interpolated, %d missing, %d unexpected, "
            "%d skipped (shape)",
            self.fmt,
            len(self.loaded),
            len(self.interpolated),
            len(self.missing),
            len(self.unexpected),
            len(self.skipped_shape),
        )
        for name in ("interpolated", "moved", "missing", "unexpected", "skipped_shape"):
            if getattr(self, name):
                log.info("pretrained %s: %s", name, ", ".join(getattr(self, name)))
        for note in self.ignored:
            log.warning("pretrained: %s", note)


def read_checkpoint(source: Union[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    """A checkpoint dict from a path (weights-only unpickling first) or the dict itself."""
    if not isinstance(source, str):
        return source
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"pretrained checkpoint not found: {source}") from e
    except Exception:  # noqa: BLE001 - e.g. PySlowFast pickles its cfg object
        logger.warning("%s holds non-tensor objects; loading it with full unpickling", source)
        return torch.load(source, map_location="cpu", weights_only=False)


def unwrap_state(ckpt: Mapping[str, Any]) -> tuple[dict[str, Tensor], set[str]]:
    """(flat state dict without wrapper keys and DDP/compile prefixes, wrappers seen)."""
    seen: set[str] = set()
    while True:
        key = next((k for k in _WRAPPERS if isinstance(ckpt.get(k), Mapping)), None)
        if key is None:
            break
        seen.add(key)
        ckpt = ckpt[key]
    state = {}
    for k, v in ckpt.items():
        if not torch.is_tensor(v):
            continue
        while k.startswith(_STRIP):
            k = k.split(".", 1)[1]
        state[k.replace("._orig_mod.", ".")] = v
    if not state:
        raise ValueError(
            f"checkpoint holds no tensors under any of the keys {_WRAPPERS} or at the top level"
        )
    return state, seen


def detect_format(state: Mapping[str, Tensor], wrappers: set[str]) -> str:
    """Guess the layout: "pyslowfast", "mae_st", "ours" or "videomae" (bare encoder keys)."""
    if "model_state" in wrappers:
        return "pyslowfast"
    if any(k.endswith(".attn.q.weight") for k in state):
        return "mae_st"
    top = {k.split(".", 1)[0] for k in state}
    if "encoder" in top and top <= {"encoder", "head", "decoder"}:
        return "ours"
    return "videomae"


def _is_vit(model: nn.Module, prefix: str) -> bool:
    from .models.vit import VisionTransformer3D

    enc = model.get_submodule(prefix.rstrip(".")) if prefix else model
    return isinstance(enc, VisionTransformer3D)


def looks_like_mvit(state: Mapping[str, Tensor]) -> bool:
    """True for MViT weights (pooling / relative-position keys or a 3x7x7 conv stem)."""
    stem = state.get("patch_embed.proj.weight")
    pooled = any(".attn.pool_" in k or ".rel_pos_" in k for k in state)
    return pooled or (stem is not None and tuple(stem.shape[2:]) == (3, 7, 7))


def to_our_layout(
    ckpt: Mapping[str, Any], fmt: str = "auto", *, vit: bool | None = None
) -> tuple[dict[str, Tensor], str]:
    """Convert a loaded checkpoint to our layout (`encoder.`/`head.`/`decoder.` keys).

    vit: for PySlowFast checkpoints, whether the target encoder is a ViT (MAE-ViT layout) or an
    MViT (None: guessed from the keys).
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt={fmt!r}: use one of {FORMATS}")
    state, wrappers = unwrap_state(ckpt)
    if fmt == "auto":
        fmt = detect_format(state, wrappers)
    if fmt == "ours":
        if not any(k.startswith(("encoder.", "backbone.")) for k in state):
            return {"encoder." + k: v for k, v in state.items()}, fmt  # a bare encoder
        return {
            ("encoder." + k[len("backbone.") :] if k.startswith("backbone.") else k): v
            for k, v in state.items()
        }, fmt
    if fmt == "videomae":
        return convert_videomae(state), fmt
    if fmt == "mae_st":
        return convert_mae_st(state), fmt
    if vit if vit is not None else not looks_like_mvit(state):
        return convert_pyslowfast_vit(state), fmt
    from .peers.pyslowfast import convert_pyslowfast, convert_pyslowfast_head

    out = {"encoder." + k: v for k, v in convert_pyslowfast(state).items()}
    kind, head = convert_pyslowfast_head(state)
    names = {"classification": "head.fc.", "maskfeat": "head.proj."}
    out.update({names[kind] + k: v for k, v in head.items()} if kind in names else {})
    return out, fmt


def _retarget(
    state: dict[str, Tensor], prefix: str, prefix_map: Mapping[str, str] | None
) -> tuple[dict[str, Tensor], list[str]]:
    """Map our-layout keys onto the model's names; returns (state, dropped keys)."""
    for old, new in (prefix_map or {}).items():
        state = {(new + k[len(old) :] if k.startswith(old) else k): v for k, v in state.items()}
    if prefix == "encoder.":
        return state, []
    out, dropped = {}, []
    for k, v in state.items():
        if k.startswith("encoder."):
            out[prefix + k[len("encoder.") :]] = v
        else:
            dropped.append(k)
    return out, dropped


def _fit_qkv_bias(src: dict[str, Tensor], target: Mapping[str, Tensor]) -> None:
    """VideoMAE q_bias/v_bias <-> fused qkv bias, in place. The k bias is dropped when splitting:
    it adds q·b_k, the same for every key, so softmax attention does not change."""
    for key in [k for k in src if k.endswith(".attn.q_bias")]:
        stem = key[: -len("q_bias")]
        if stem + "qkv.bias" in target and stem + "q_bias" not in target:
            q, v = src.pop(key), src.pop(stem + "v_bias")
            src[stem + "qkv.bias"] = torch.cat((q, torch.zeros_like(q), v))
    for key in [k for k in src if k.endswith(".attn.qkv.bias")]:
        stem = key[: -len("qkv.bias")]
        if stem + "q_bias" in target and key not in target:
            q, _, v = src.pop(key).chunk(3)
            src[stem + "q_bias"], src[stem + "v_bias"] = q, v


def _fit_separable(src: dict[str, Tensor], target: Mapping[str, Tensor]) -> None:
    """Separable (spatial, temporal, class) position embeddings -> joint `pos_embed`."""
    for key in [k for k in src if k.endswith("pos_embed_spatial")]:
        stem = key[: -len("pos_embed_spatial")]
        if stem + "pos_embed" not in target or stem + "pos_embed_spatial" in target:
            continue
        spatial, temporal = src.pop(key), src.pop(stem + "pos_embed_temporal")
        joint = spatial.repeat(1, temporal.shape[1], 1) + temporal.repeat_interleave(
            spatial.shape[1], dim=1
        )
        if stem + "pos_embed_class" in src:
            joint = torch.cat((src.pop(stem + "pos_embed_class"), joint), dim=1)
        src[stem + "pos_embed"] = joint


def guess_grid(n: int, ref: Sequence[int]) -> tuple[int, int, int]:
    """The (t, s, s) grid with t*s*s == n closest (log scale) to the reference grid `ref`."""
    best, cost = None, math.inf
    for t in range(1, n + 1):
        if n % t or math.isqrt(n // t) ** 2 != n // t:
            continue
        s = math.isqrt(n // t)
        c = abs(math.log(t / ref[0])) + abs(math.log(s / ref[1]))
        if c < cost:
            best, cost = (t, s, s), c
    if best is None:
        raise ValueError(f"{n} positions do not form a t x s x s grid")
    return best


def _target_grid(model: nn.Module, key: str, n: int) -> tuple[int, int, int]:
    path = key.rsplit(".", 1)[0] if "." in key else ""
    grid = getattr(model.get_submodule(path) if path else model, "grid", None)
    if grid is not None and math.prod(grid) == n:
        return tuple(grid)
    return guess_grid(n, (8, 14, 14))


def _resize(
    key: str, value: Tensor, shape: torch.Size, model: nn.Module, prefix_tokens: int
) -> Tensor | None:
    """Interpolated tensor of the target shape, or None when `key` cannot be interpolated."""
    name = key.rsplit(".", 1)[-1]
    if value.dim() != len(shape) or value.shape[-1] != shape[-1]:
        return None
    if name == "pos_embed_temporal":
        return resize_1d(value[0], shape[1])[None]
    if name == "pos_embed_spatial":
        old, new = square_side(value.shape[1]), square_side(shape[1])
        return resize_2d(value[0], (old, old), (new, new))[None]
    if ".rel_pos_" in key or name.startswith("rel_pos_"):
        return resize_1d(value, shape[0])
    if name == "pos_embed" and value.dim() == 3:
        P = prefix_tokens
        new_grid = _target_grid(model, key, shape[1] - P)
        old_grid = guess_grid(value.shape[1] - P, new_grid)
        patch = resize_pos_embed(value[0, P:], old_grid, new_grid)
        return torch.cat((value[0, :P], patch))[None]
    return None


def load_pretrained(
    model: nn.Module,
    source: Union[str, Mapping[str, Any]],
    *,
    fmt: str = "auto",
    strict_shapes: bool = False,
    prefix_map: Mapping[str, str] | None = None,
    target_prefix: str | None = None,
    allow_mismatch: bool = False,
) -> LoadReport:
    """Load `source` (path or loaded dict) into `model`; see the module docstring.

    prefix_map renames our-layout key prefixes before fitting (e.g. {"head.": "cls_head."}).
    strict_shapes=True raises on a shape that cannot be fitted instead of skipping it.

    Raises ValueError listing every weight that would be lost or left at its initialisation
    (`LoadReport.problems`, see `weight_problems`), unless allow_mismatch=True (then they are
    logged as warnings). Expected differences are not problems; they are logged in
    `LoadReport.ignored`.
    """
    target = model.state_dict()
    if target_prefix is None:
        target_prefix = "encoder." if any(k.startswith("encoder.") for k in target) else ""
    src, fmt = to_our_layout(read_checkpoint(source), fmt, vit=_is_vit(model, target_prefix))
    src, dropped = _retarget(src, target_prefix, prefix_map)
    _fit_qkv_bias(src, target)
    _fit_separable(src, target)
    report = LoadReport(fmt=fmt, unexpected=sorted(dropped))
    if fmt == "mae_st" and target_prefix == "encoder.":
        report.moved = _mae_st_norm_to_fc_norm(src, target)
    prefix_tokens = int(target_prefix + "cls_token" in target)
    fitted: dict[str, Tensor] = {}
    for key, value in src.items():
        if key not in target:
            report.unexpected.append(key)
            continue
        if value.shape != target[key].shape:
            value = _resize(key, value, target[key].shape, model, prefix_tokens)
            if value is None:
                old, new = tuple(src[key].shape), tuple(target[key].shape)
                msg = f"{key}: {old} in checkpoint, {new} in model"
                if strict_shapes:
                    raise ValueError(f"shape mismatch that cannot be interpolated: {msg}")
                report.skipped_shape.append(msg)
                continue
            report.interpolated.append(key)
        fitted[key] = value.to(target[key].dtype)
        report.loaded.append(key)
    if not fitted:
        raise ValueError(
            f"no checkpoint key matches the model (format {fmt!r}); checkpoint keys "
            f"start like {sorted(src)[:5]}, model keys like {sorted(target)[:5]}"
        )
    model.load_state_dict(fitted, strict=False)
    report.missing = sorted(k for k in target if k not in fitted)
    report.unexpected.sort()
    report.problems, report.ignored = weight_problems(report, src, target, target_prefix)
    report.log()
    if report.problems:
        msg = f"pretrained weights (format {fmt!r}) do not fit the model: " + "; ".join(
            report.problems
        )
        if not allow_mismatch:
            raise ValueError(
                msg + ". Fix the model config or the checkpoint format, or allow it explicitly "
                "(load_pretrained(allow_mismatch=True), TRAIN.CHECKPOINT_ALLOW_MISMATCH True)."
            )
        logger.warning("%s (allowed)", msg)
    return report


def _mae_st_norm_to_fc_norm(src: dict[str, Tensor], target: Mapping[str, Tensor]) -> list[str]:
    """mae_st's fine-tuning loads its pretrained encoder `norm` into the norm after mean
    pooling: do the same when the model has a head fc_norm and no final encoder norm."""
    moved = []
    for name in ("weight", "bias"):
        old, new = f"encoder.norm.{name}", f"head.fc_norm.{name}"
        if old in src and old not in target and new in target and new not in src:
            src[new] = src.pop(old)
            moved.append(f"{old} -> {new}")
    return moved


def _part(key: str, prefix: str) -> str:
    return key.split(".", 1)[0] if prefix == "encoder." else "encoder"


def weight_problems(
    report: LoadReport, src: Mapping[str, Tensor], target: Mapping[str, Tensor], prefix: str
) -> tuple[list[str], list[str]]:
    """(problems, ignored notes) of a load.

    Parts are the model's top-level modules (`encoder`, `head`, `decoder`; the whole model
    when loading into a bare encoder). A problem is a checkpoint weight of a part the model has
    that was not loaded, a model weight of a part the checkpoint has that was not loaded, or a
    shape that could not be fitted. Expected, and only noted: parts on one side only (the
    decoder when fine-tuning, a fresh head), a head of another kind (no shared key, e.g. the
    MaskFeat head when fine-tuning), the classifier at another class count (re-initialised, as
    mae_st and VideoMAE do), the pretraining-only `encoder.mask_token`, and `encoder.norm` when
    the encoder has no final norm (mean pooling + fc_norm: VideoMAE drops it).
    """
    src_parts: dict[str, set[str]] = {}
    moved_to = {m.split(" -> ")[1] for m in report.moved}
    for k in src:
        if k not in moved_to:  # a moved norm does not make the checkpoint have that part
            src_parts.setdefault(_part(k, prefix), set()).add(k)
    tgt_parts: dict[str, set[str]] = {}
    for k in target:
        if not k.endswith("num_batches_tracked"):
            tgt_parts.setdefault(_part(k, prefix), set()).add(k)
    enc = prefix or ""
    problems, ignored = [], []
    dropped = [k for k in report.unexpected if k not in src]  # parts the model cannot hold
    if dropped:
        ignored.append(f"checkpoint parts not in this model, not loaded: {', '.join(dropped)}")
    unexpected = [k for k in report.unexpected if k in src]
    shape_keys = {msg.split(":", 1)[0] for msg in report.skipped_shape}
    for part in sorted(set(src_parts) | set(tgt_parts)):
        have, want = src_parts.get(part, set()), tgt_parts.get(part, set())
        extra = sorted(k for k in unexpected if k in have)
        lost = sorted(k for k in report.missing if k in want and k not in shape_keys)
        if not want and extra:
            ignored.append(f"checkpoint part {part!r} is not in this model: {len(extra)} keys")
        elif not have and lost:
            ignored.append(
                f"model part {part!r} is not in the checkpoint: {len(lost)} keys at init"
            )
        elif not (have & want) and (extra or lost):
            ignored.append(
                f"part {part!r} is another module in the checkpoint ({len(extra)} keys not "
                f"loaded, {len(lost)} model keys at init)"
            )
        if not have or not want or not (have & want):
            continue
        for k in extra:
            if k == enc + "mask_token":
                ignored.append(f"{k}: pretraining-only mask token, not used by this model")
            elif k in (enc + "norm.weight", enc + "norm.bias"):
                ignored.append(f"{k}: the encoder has no final norm (mean pooling + fc_norm)")
            else:
                problems.append(f"checkpoint weight not loaded: {k}")
        problems += [f"model weight not in checkpoint: {k}" for k in lost]
    for msg in report.skipped_shape:
        key = msg.split(":", 1)[0]
        if key in ("head.fc.weight", "head.fc.bias"):
            ignored.append(f"classifier re-initialised ({msg})")
        else:
            problems.append(f"shape cannot be fitted: {msg}")
    return problems, ignored
