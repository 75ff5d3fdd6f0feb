"""DATA: lists, decoding, clip sampling and transforms."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.DATA = CfgNode()
    # Dataset registry name: "kinetics", "ssv2", "folder", "ava".
    cfg.DATA.DATASET = "kinetics"
    # Folder with {train,val,test}.csv (Kinetics) or the SSv2 json files.
    cfg.DATA.PATH_TO_DATA_DIR = ""
    # Prefix joined to every relative path in a list file.
    cfg.DATA.PATH_PREFIX = ""
    # Separator between path and label in list files.
    cfg.DATA.PATH_LABEL_SEPARATOR = " "
    # List line format: "auto", "video" (path label), "pretrain" (path 0 -1),
    # "frames_start_total" (dir start total), "frames_total_label" (dir total label).
    cfg.DATA.LIST_FORMAT = "auto"
    # When non-empty and PATH_TO_DATA_DIR lacks its lists, write the built-in demo data there.
    cfg.DATA.DEMO = ""
    # Decoder: "pyav", "decord" or "frames".
    cfg.DATA.DECODER = "pyav"
    cfg.DATA.DECODER_THREADS = 1
    # Resize the short side while decoding (0 = off).
    cfg.DATA.DECODE_SHORT_SIDE = 0
    cfg.DATA.NUM_FRAMES = 16
    cfg.DATA.SAMPLING_RATE = 4
    # Resample to this frame rate before sampling (0 = use the video's own rate).
    cfg.DATA.TARGET_FPS = 30
    cfg.DATA.TRAIN_CROP_SIZE = 224
    cfg.DATA.TEST_CROP_SIZE = 224
    # Short-side range for scale jitter (PySlowFast) when RandomResizedCrop is off.
    cfg.DATA.TRAIN_JITTER_SCALES = [256, 320]
    # RandomResizedCrop area range and aspect range (MaskFeat PT: [0.5, 1.0]).
    cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE = [0.08, 1.0]
    cfg.DATA.TRAIN_JITTER_ASPECT_RELATIVE = [0.75, 1.3333]
    cfg.DATA.USE_RANDOM_RESIZED_CROP = True
    # VideoMAE's multi-scale crop (GroupMultiScaleCrop): scales of the short side, e.g.
    # [1.0, 0.875, 0.75, 0.66]; a non-empty list replaces RandomResizedCrop / scale jitter.
    cfg.DATA.MULTI_SCALE_CROP = []
    # Largest difference between the width and height scale indices of a multi-scale crop.
    cfg.DATA.MULTI_SCALE_MAX_DISTORT = 1
    # Colour jitter strength s: brightness, contrast, saturation factors in [1-s, 1+s], random
    # order, once per clip (0 = off). PySlowFast's AUG.COLOR_JITTER is not this key: its video
    # datasets never apply it (docs/reference.md §5).
    cfg.DATA.COLOR_JITTER = 0.0
    cfg.DATA.RANDOM_FLIP = True
    # Deprecated, no effect: clips always leave the loader as uint8 and the objective normalises
    # them on the device with MEAN/STD (4x fewer bytes through the workers; docs/benchmarks.md).
    cfg.DATA.NORMALIZE_ON_DEVICE = False
    cfg.DATA.MEAN = [0.45, 0.45, 0.45]
    cfg.DATA.STD = [0.225, 0.225, 0.225]
    # Repeated augmentation: decode once, return this many augmented clips.
    cfg.DATA.NUM_REPEATED_SAMPLES = 1
    # SSv2 segment sampling: number of segments (one frame each).
    cfg.DATA.NUM_SEGMENTS = 16
    # Retries with another random clip / video before a record is skipped.
    cfg.DATA.NUM_RETRIES = 10
    # Failed decodes are appended here (relative to OUTPUT_DIR): split<TAB>path<TAB>reason.
    cfg.DATA.BAD_FILE_REPORT = "bad_videos.tsv"
    # Stop when more than this fraction of the reads (after 32) failed: the data is broken.
    cfg.DATA.MAX_BAD_FRACTION = 0.5
    # Evaluate the val split with the TEST.* views (else one centre clip and crop per video).
    cfg.DATA.MULTI_VIEW_VAL = False
    cfg.DATA.NUM_WORKERS = 2
    cfg.DATA.PIN_MEMORY = True
    # RandAugment (fine-tuning): "" = off, else timm-style "rand-m7-n4-mstd0.5-inc1".
    cfg.DATA.RAND_AUGMENT = ""
    # Channel order the model sees: "rgb" or "bgr" (decoded frames reversed before any
    # transform; DATA.MEAN / STD are in this order). PySlowFast DATA.REVERSE_INPUT_CHANNEL.
    cfg.DATA.INPUT_CHANNEL_ORDER = "rgb"
    # Short-side jitter draws 1/size uniformly instead of the size (PySlowFast
    # DATA.INV_UNIFORM_SAMPLE; used without RandomResizedCrop).
    cfg.DATA.INV_UNIFORM_SAMPLE = False
    cfg.DATA.RANDOM_ERASING = 0.0
