"""AVA: spatiotemporal action detection data and evaluation."""

from fvcore.common.config import CfgNode


def add_defaults(cfg: CfgNode) -> None:
    cfg.AVA = CfgNode()
    # Frames: FRAME_DIR/<video_id>/<video_id>_%06d.jpg, numbered from 1, extracted at FPS
    # from the part of the movie that starts at VIDEO_START_SEC (tools/prepare_ava.py).
    cfg.AVA.FRAME_DIR = ""
    cfg.AVA.FRAME_TEMPLATE = "{video_id}/{video_id}_{index:06d}.jpg"
    cfg.AVA.FPS = 30
    cfg.AVA.VIDEO_START_SEC = 900
    # Keyframes (1 Hz, seconds of the movie) kept from the annotation files (inclusive).
    cfg.AVA.KEYFRAME_RANGE = [902, 1798]
    # Folder of the csv / pbtxt files below (relative names are joined to it).
    cfg.AVA.ANNOTATION_DIR = ""
    # Training boxes and labels: ground truth (video_id,ts,x1,y1,x2,y2,action_id,person_id).
    cfg.AVA.TRAIN_GT_BOX_LISTS = ["ava_train_v2.2.csv"]
    # Extra labelled detector boxes for training (csv with a score column; PySlowFast adds
    # person_box_67091280_iou90/ava_detection_train_boxes_and_labels_include_negative_v2.2.csv).
    cfg.AVA.TRAIN_PREDICT_BOX_LISTS = []
    # Person proposals for testing: video_id,ts,x1,y1,x2,y2,action_id(may be empty),score.
    cfg.AVA.TEST_PREDICT_BOX_LISTS = ["ava_val_predicted_boxes.csv"]
    # Proposals with a score below this are dropped (PySlowFast AVA configs: 0.8).
    cfg.AVA.DETECTION_SCORE_THRESH = 0.8
    # Evaluation: ground truth, 60-class label map and excluded timestamps.
    cfg.AVA.GROUNDTRUTH_FILE = "ava_val_v2.2.csv"
    cfg.AVA.LABEL_MAP_FILE = "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
    cfg.AVA.EXCLUSION_FILE = "ava_val_excluded_timestamps_v2.2.csv"
    # Action ids run 1..NUM_CLASSES (80 for AVA v2.x).
    cfg.AVA.NUM_CLASSES = 80
    # Frame-mAP protocol: "pyslowfast" (PySlowFast's ava_eval_helper: rows in the order
    # received, no per-keyframe cap; the published numbers) or "activitynet"
    # (get_ava_performance.py: top 50 detections per keyframe by a score heap, sorted by score).
    cfg.AVA.EVAL_PROTOCOL = "pyslowfast"
    # Per-keyframe detection cap: -1 = the protocol's own (none / 50); > 0 only with
    # "activitynet" (ActivityNet's heap rule); 0 = no cap.
    cfg.AVA.EVAL_DETECTIONS_PER_FRAME = -1
    cfg.AVA.EVAL_IOU_THRESHOLD = 0.5
    # Test frames: "resize" squeezes the whole frame to TEST_CROP_SIZE² (every person stays in
    # view); "center_crop" resizes the short side and takes the central square.
    cfg.AVA.TEST_SPATIAL = "resize"
    # RoI head: roi_align output size, sampling ratio (0 = adaptive), dropout before the linear.
    cfg.AVA.ROI_RESOLUTION = 7
    cfg.AVA.ROI_SAMPLING_RATIO = 0
    cfg.AVA.ROI_DROPOUT = 0.5
    # Write detections as the official csv (OUTPUT_DIR/ava_detections.csv).
    cfg.AVA.WRITE_DETECTIONS = True
