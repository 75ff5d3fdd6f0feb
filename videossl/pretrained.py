"""Load pretrained weights (ours or a peer's layout) into a model, fitting shapes and logging
exactly what was loaded, missing, unexpected, interpolated or skipped.

Which module receives the encoder weights: `target_prefix` names the model's encoder attribute
(e.g. "encoder." for videossl's objectives, "" when `model` is the encoder itself). By default it
is "encoder." when the model has parameters under `encoder.`, else "". Head (`head.`) and
decoder (`decoder.`) weights are loaded only when target_prefix is "encoder." (an objective).

Layout: reading a checkpoint and converting it to our layout is in `pretrained_layout`, fitting
keys and shapes to the model in `pretrained_fit`; this module loads and reports.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Union

from torch import Tensor, nn

from .pretrained_fit import (
    fit_qkv_bias,
    fit_separable,
    guess_grid,
    mae_st_norm_to_fc_norm,
    resize,
    retarget,
)
from .pretrained_layout import (
    FORMATS,
    detect_format,
    looks_like_mvit,
    read_checkpoint,
    to_our_layout,
    unwrap_state,
)

__all__ = [
    "FORMATS",
    "LoadReport",
    "detect_format",
    "guess_grid",
    "load_pretrained",
    "looks_like_mvit",
    "read_checkpoint",
    "to_our_layout",
    "unwrap_state",
    "weight_problems",
]

logger = logging.getLogger(__name__)


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


def _is_vit(model: nn.Module, prefix: str) -> bool:
    from .models.vit import VisionTransformer3D

    enc = model.get_submodule(prefix.rstrip(".")) if prefix else model
    return isinstance(enc, VisionTransformer3D)


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
    src, dropped = retarget(src, target_prefix, prefix_map)
    fit_qkv_bias(src, target)
    fit_separable(src, target)
    report = LoadReport(fmt=fmt, unexpected=sorted(dropped))
    if fmt == "mae_st" and target_prefix == "encoder.":
        report.moved = mae_st_norm_to_fc_norm(src, target)
    prefix_tokens = int(target_prefix + "cls_token" in target)
    fitted = _fit(model, src, target, report, prefix_tokens, strict_shapes)
    model.load_state_dict(fitted, strict=False)
    report.missing = sorted(k for k in target if k not in fitted)
    report.unexpected.sort()
    report.problems, report.ignored = weight_problems(report, src, target, target_prefix)
    report.log()
    if report.problems:
        _refuse_or_warn(report, allow_mismatch)
    return report


def _fit(
    model: nn.Module,
    src: Mapping[str, Tensor],
    target: Mapping[str, Tensor],
    report: LoadReport,
    prefix_tokens: int,
    strict_shapes: bool,
) -> dict[str, Tensor]:
    """The checkpoint tensors the model takes, in its shapes and dtypes; `report` records what
    was loaded, interpolated, skipped or unexpected."""
    fitted: dict[str, Tensor] = {}
    for key, value in src.items():
        if key not in target:
            report.unexpected.append(key)
            continue
        if value.shape != target[key].shape:
            value = resize(key, value, target[key].shape, model, prefix_tokens)
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
            f"no checkpoint key matches the model (format {report.fmt!r}); checkpoint keys "
            f"start like {sorted(src)[:5]}, model keys like {sorted(target)[:5]}"
        )
    return fitted


def _refuse_or_warn(report: LoadReport, allow_mismatch: bool) -> None:
    """Raise on `report.problems`, or log them as a warning when the mismatch is allowed."""
    msg = f"pretrained weights (format {report.fmt!r}) do not fit the model: " + "; ".join(
        report.problems
    )
    if not allow_mismatch:
        raise ValueError(
            msg + ". Fix the model config or the checkpoint format, or allow it explicitly "
            "(load_pretrained(allow_mismatch=True), TRAIN.CHECKPOINT_ALLOW_MISMATCH True)."
        )
    logger.warning("%s (allowed)", msg)


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
    moved_to = {m.split(" -> ")[1] for m in report.moved}
    # A moved norm does not make the checkpoint have that part.
    src_parts = _parts((k for k in src if k not in moved_to), prefix)
    tgt_parts = _parts((k for k in target if not k.endswith("num_batches_tracked")), prefix)
    problems: list[str] = []
    ignored: list[str] = []
    dropped = [k for k in report.unexpected if k not in src]  # parts the model cannot hold
    if dropped:
        ignored.append(f"checkpoint parts not in this model, not loaded: {', '.join(dropped)}")
    unexpected = [k for k in report.unexpected if k in src]
    shape_keys = {msg.split(":", 1)[0] for msg in report.skipped_shape}
    for part in sorted(set(src_parts) | set(tgt_parts)):
        have, want = src_parts.get(part, set()), tgt_parts.get(part, set())
        extra = sorted(k for k in unexpected if k in have)
        lost = sorted(k for k in report.missing if k in want and k not in shape_keys)
        _compare_part(part, have, want, extra, lost, prefix or "", problems, ignored)
    for msg in report.skipped_shape:
        key = msg.split(":", 1)[0]
        if key in ("head.fc.weight", "head.fc.bias"):
            ignored.append(f"classifier re-initialised ({msg})")
        else:
            problems.append(f"shape cannot be fitted: {msg}")
    return problems, ignored


def _parts(keys: Iterable[str], prefix: str) -> dict[str, set[str]]:
    """{part: its keys} (see `weight_problems`)."""
    parts: dict[str, set[str]] = {}
    for k in keys:
        parts.setdefault(_part(k, prefix), set()).add(k)
    return parts


def _compare_part(
    part: str,
    have: set[str],
    want: set[str],
    extra: list[str],
    lost: list[str],
    enc: str,
    problems: list[str],
    ignored: list[str],
) -> None:
    """Append one part's problems and notes: `have` / `want` are its checkpoint / model keys,
    `extra` / `lost` its checkpoint keys not loaded / model keys not loaded, `enc` the encoder
    prefix."""
    if not want and extra:
        ignored.append(f"checkpoint part {part!r} is not in this model: {len(extra)} keys")
    elif not have and lost:
        ignored.append(f"model part {part!r} is not in the checkpoint: {len(lost)} keys at init")
    elif not (have & want) and (extra or lost):
        ignored.append(
            f"part {part!r} is another module in the checkpoint ({len(extra)} keys not "
            f"loaded, {len(lost)} model keys at init)"
        )
    if not (have & want):  # includes a part on one side only
        return
    for k in extra:
        if k == enc + "mask_token":
            ignored.append(f"{k}: pretraining-only mask token, not used by this model")
        elif k in (enc + "norm.weight", enc + "norm.bias"):
            ignored.append(f"{k}: the encoder has no final norm (mean pooling + fc_norm)")
        else:
            problems.append(f"checkpoint weight not loaded: {k}")
    problems += [f"model weight not in checkpoint: {k}" for k in lost]
