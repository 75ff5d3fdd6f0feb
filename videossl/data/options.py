"""Config -> keyword arguments shared by the video datasets (builders only read cfg here)."""

from __future__ import annotations

import os

from fvcore.common.config import CfgNode

from .transforms import TrainTransform


def transform_from_config(cfg: CfgNode, *, flip: bool | None = None) -> TrainTransform:
    """The training transform described by cfg.DATA (``flip`` overrides DATA.RANDOM_FLIP).

    It returns uint8 clips (the objective normalises them on the device); random erasing fills
    with the DATA.MEAN colour, which is 0 after normalisation."""
    d = cfg.DATA
    return TrainTransform(
        crop_size=d.TRAIN_CROP_SIZE,
        random_resized_crop=d.USE_RANDOM_RESIZED_CROP,
        area_range=d.TRAIN_JITTER_SCALES_RELATIVE,
        aspect_range=d.TRAIN_JITTER_ASPECT_RELATIVE,
        jitter_scales=d.TRAIN_JITTER_SCALES,
        flip=d.RANDOM_FLIP if flip is None else flip,
        rand_augment=d.RAND_AUGMENT,
        random_erasing=d.RANDOM_ERASING,
        erase_fill=tuple(min(max(round(255 * m), 0), 255) for m in d.MEAN),
        inverse_uniform=d.INV_UNIFORM_SAMPLE,
        multi_scale_crop=d.MULTI_SCALE_CROP,
        max_distort=d.MULTI_SCALE_MAX_DISTORT,
        color_jitter=d.COLOR_JITTER,
    )


def dataset_kwargs(cfg: CfgNode, split: str, *, flip: bool | None = None) -> dict:
    """VideoDataset keyword arguments for ``split`` from cfg.DATA and cfg.TEST."""
    d = cfg.DATA
    multi_view = split == "test" or (split == "val" and d.MULTI_VIEW_VAL)
    report = d.BAD_FILE_REPORT
    if report and not os.path.isabs(report):
        report = os.path.join(cfg.OUTPUT_DIR, report)
    return dict(
        split=split,
        transform=transform_from_config(cfg, flip=flip),
        num_frames=d.NUM_FRAMES,
        sampling_rate=d.SAMPLING_RATE,
        target_fps=d.TARGET_FPS,
        decoder=d.DECODER,
        decoder_threads=d.DECODER_THREADS,
        decode_short_side=d.DECODE_SHORT_SIDE,
        num_temporal_views=cfg.TEST.NUM_ENSEMBLE_VIEWS if multi_view else 1,
        num_spatial_crops=cfg.TEST.NUM_SPATIAL_CROPS if multi_view else 1,
        test_crop_size=d.TEST_CROP_SIZE,
        num_repeated=d.NUM_REPEATED_SAMPLES,
        num_retries=d.NUM_RETRIES,
        bad_report=report,
        max_bad_fraction=d.MAX_BAD_FRACTION,
        channel_order=d.INPUT_CHANNEL_ORDER,
    )
