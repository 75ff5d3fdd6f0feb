"""VideoDataset: records -> decoded, sampled, transformed clips (shared by every video dataset).

Items are dicts: ``video`` uint8 [3,T,H,W] ([K,3,T,H,W] with K repeated samples in training;
pixels, normalised later by the objective on the device), ``label``/``index``/``view`` int64,
``valid`` bool, and in training ``seed`` int64 (the item's seed, for draws made at collate time).
Every random draw of an item (clip position, augmentation, replacement video) takes an explicit
``torch.Generator``: ``dataset[(i, seed)]`` (what the loader's SeededDataset asks for) seeds one
from ``seed``, and repeat k of K its own from ``(seed, k)``; ``dataset[i]`` draws the seed from
torch's global RNG.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence

import torch

from .decoders import open_video
from .records import VideoRecord
from .sampler import mix_seed
from .sampling import clip_indices, segment_indices
from .transforms import test_view

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
MIN_READS_BEFORE_STOP = 32


class DatasetMostlyBad(RuntimeError):
    """Most reads of a dataset fail: the list, the paths or the decoder are wrong."""


def read_bad_report(path: str) -> list[tuple[str, str, str]]:
    """Rows ``(split, path, reason)`` of a bad-file report (empty when it does not exist)."""
    if not path or not os.path.isfile(path):
        return []
    with open(path) as f:
        return [tuple(line.rstrip("\n").split("\t", 2)) for line in f if line.strip()]


class VideoDataset(torch.utils.data.Dataset):
    """Clips from a list of records.

    Args:
        records: the videos (or frame folders) and labels.
        split: "train" (random clip, ``transform``, repeated samples), or "val"/"test"
            (``num_temporal_views`` x ``num_spatial_crops`` deterministic views per video).
        sampling: "clip" (``num_frames`` at ``sampling_rate``, resampled to ``target_fps``) or
            "segment" (TSN-style, ``num_frames`` segments; SSv2).
        transform: training transform, ``transform(frames, generator)``: uint8 [T,H,W,3] ->
            uint8 [3,T,H,W] (a picklable object, e.g. transforms.TrainTransform).
        num_repeated: K > 1 decodes once and returns K augmented clips (training).
        num_retries: attempts (other clips, then other videos) before an item fails.
        bad_report: file that gets one ``split<TAB>path<TAB>reason`` line per failed decode.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        *,
        split: str,
        transform: Callable[..., torch.Tensor],
        num_frames: int = 16,
        sampling_rate: int = 4,
        target_fps: float = 30.0,
        sampling: str = "clip",
        decoder: str = "pyav",
        decoder_threads: int = 1,
        decode_short_side: int = 0,
        num_temporal_views: int = 1,
        num_spatial_crops: int = 1,
        test_crop_size: int = 224,
        num_repeated: int = 1,
        num_retries: int = 10,
        bad_report: str = "",
        max_bad_fraction: float = 0.5,
        channel_order: str = "rgb",
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if sampling not in ("clip", "segment"):
            raise ValueError(f"sampling must be 'clip' or 'segment', got {sampling!r}")
        if not records:
            raise ValueError("VideoDataset needs at least one record")
        self.records = list(records)
        self.split, self.train = split, split == "train"
        self.transform, self.sampling = transform, sampling
        self.num_frames, self.sampling_rate, self.target_fps = num_frames, sampling_rate, target_fps
        self.decoder, self.decoder_threads = decoder, decoder_threads
        self.decode_short_side = decode_short_side
        self.num_views = 1 if self.train else num_temporal_views
        self.num_crops = 1 if self.train else num_spatial_crops
        self.test_crop_size = test_crop_size
        self.num_repeated = num_repeated if self.train else 1
        self.num_retries = max(1, num_retries)
        self.bad_report = bad_report
        if channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        self.reverse_channels = channel_order == "bgr"
        self.failures = 0  # decodes that failed in this process (not in loader workers)
        self.reads = 0  # decodes tried in this process
        self.max_bad_fraction = max_bad_fraction
        self._seen: set[str] = set()  # files this process already reported
        # Marker files shared by the loader workers: each bad file is reported once per run.
        key = f"{os.path.abspath(bad_report)}:{os.getpid()}:{time.time()}"
        self._marker_dir = os.path.join(
            tempfile.gettempdir(), "videossl_bad", hashlib.sha1(key.encode()).hexdigest()[:16]
        )
        self._summary_failures = 0
        # Report rows written before this dataset existed belong to earlier runs.
        self._report_offset = os.path.getsize(bad_report) if os.path.isfile(bad_report) else 0

    # Attributes the evaluator uses.
    @property
    def num_videos(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.records]

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.records]

    def __len__(self) -> int:
        return len(self.records) * self.num_views * self.num_crops

    # SeededDataset passes (index, seed) keys to datasets that set this.
    takes_seed = True

    def _indices(
        self, num: int, fps: float, temporal_idx: int, generator: torch.Generator | None = None
    ) -> list[int]:
        if self.sampling == "segment":
            return segment_indices(
                num,
                self.num_frames,
                train=self.train,
                offset_idx=max(temporal_idx, 0),
                num_offsets=self.num_views,
                generator=generator,
            )
        return clip_indices(
            num,
            num_frames=self.num_frames,
            sampling_rate=self.sampling_rate,
            video_fps=fps,
            target_fps=self.target_fps,
            clip_idx=temporal_idx,
            num_clips=self.num_views,
            generator=generator,
        )

    def load_frames(
        self, video_idx: int, temporal_idx: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Decode the clip (uint8 [T,H,W,3]); ``temporal_idx`` -1 = random (from
        ``generator``; the same generator draws a resample after an over-reported length)."""
        record = self.records[video_idx]
        with open_video(
            record.path,
            backend=self.decoder,
            threads=self.decoder_threads,
            short_side=self.decode_short_side,
            start_frame=record.start_frame,
            num_frames=record.num_frames,
        ) as reader:
            estimate = reader.num_frames
            indices = self._indices(estimate, reader.fps, temporal_idx, generator)
            frames = reader.get_frames(indices)
            if reader.num_frames < estimate and max(indices) >= reader.num_frames:
                # The container over-reported its length: sample again within the real one.
                frames = reader.get_frames(
                    self._indices(reader.num_frames, reader.fps, temporal_idx, generator)
                )
        if self.reverse_channels:  # DATA.INPUT_CHANNEL_ORDER "bgr"
            frames = frames.flip(-1)
        return frames

    def _first_report(self, path: str) -> bool:
        """True only the first time any process of this run reports `path` for this split."""
        if path in self._seen:
            return False
        self._seen.add(path)
        try:
            os.makedirs(self._marker_dir, exist_ok=True)
            name = hashlib.sha1(f"{self.split}\t{path}".encode()).hexdigest()
            os.close(os.open(os.path.join(self._marker_dir, name), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        except OSError:
            pass  # no marker folder: this process's own set still dedupes
        return True

    def _check_mostly_bad(self) -> None:
        if self.reads >= MIN_READS_BEFORE_STOP and (
            self.failures > self.max_bad_fraction * self.reads
        ):
            raise DatasetMostlyBad(
                f"{self.failures} of {self.reads} reads of the {self.split} data failed (more "
                f"than DATA.MAX_BAD_FRACTION={self.max_bad_fraction:g}): see "
                f"{self.bad_report or 'the warnings (set DATA.BAD_FILE_REPORT)'} for the files "
                "and reasons, and check DATA.PATH_PREFIX, the list and DATA.DECODER."
            )

    def _fail(self, video_idx: int, error: Exception) -> None:
        self.failures += 1
        path = self.records[video_idx].path
        if not self._first_report(path):
            self._check_mostly_bad()
            return
        reason = f"{type(error).__name__}: {error}".replace("\n", " ").replace("\t", " ")
        logger.warning("Skipping %s (%s split): %s", path, self.split, reason)
        if self.bad_report:
            os.makedirs(os.path.dirname(os.path.abspath(self.bad_report)), exist_ok=True)
            with open(self.bad_report, "a") as f:  # one short append per line: safe across workers
                f.write(f"{self.split}\t{path}\t{reason}\n")
        self._check_mostly_bad()

    def failure_summary(self, epoch: int | None = None, *, log: bool = True) -> dict:
        """Failed decodes of this split since the previous call (or since construction), in
        every process: read from the bad-file report (workers append to it), else counted in
        this process. Logs one line (a warning when anything failed) and returns
        ``{"failures": n, "files": unique paths, "paths": sorted list}``. Call it once at
        the end of each training epoch and after a test pass."""
        paths: list[str] = []
        if self.bad_report and os.path.isfile(self.bad_report):
            with open(self.bad_report, "rb") as f:
                f.seek(self._report_offset)
                data = f.read()
            complete = data.rfind(b"\n") + 1  # leave a line being written for the next call
            self._report_offset += complete
            for line in data[:complete].decode(errors="replace").splitlines():
                fields = line.split("\t", 2)
                if len(fields) == 3 and fields[0] == self.split:
                    paths.append(fields[1])
            count = len(paths)
        else:
            count = self.failures - self._summary_failures
        self._summary_failures = self.failures
        unique = sorted(set(paths))
        where = f"epoch {epoch} " if epoch is not None else ""
        if log and count:
            logger.warning(
                "%s%s data: %d failed decodes (%d files) were skipped%s; list in %s",
                where,
                self.split,
                count,
                len(unique),
                "" if self.train else " and left out of the metrics",
                self.bad_report or "(no DATA.BAD_FILE_REPORT set)",
            )
        elif log:
            logger.info("%s%s data: no unreadable videos", where, self.split)
        return {"failures": count, "files": len(unique), "paths": unique}

    def _item(self, video, video_idx: int, view: int, valid: bool) -> dict:
        return {
            "video": video,
            "label": torch.tensor(self.records[video_idx].label, dtype=torch.int64),
            "index": torch.tensor(video_idx, dtype=torch.int64),
            "view": torch.tensor(view, dtype=torch.int64),
            "valid": torch.tensor(valid),
        }

    def _train_item(self, index: int, seed: int) -> dict:
        generator = torch.Generator().manual_seed(seed)
        video_idx = index
        for attempt in range(self.num_retries):
            self.reads += 1
            try:
                frames = self.load_frames(video_idx, -1, generator)
            except Exception as e:  # any reader failure is a skip (DecodeError and others)
                self._fail(video_idx, e)
                # A file that cannot be opened is replaced now; others get one more clip first.
                if (
                    attempt > 0
                    or "cannot open" in str(e)
                    or not os.path.isfile(self.records[video_idx].path)
                ):
                    video_idx = int(torch.randint(len(self.records), (), generator=generator))
                continue
            if self.num_repeated == 1:
                video = self.transform(frames, generator)
            else:
                video = torch.stack(
                    [
                        self.transform(frames, torch.Generator().manual_seed(mix_seed(seed, k)))
                        for k in range(self.num_repeated)
                    ]
                )
            item = self._item(video, video_idx, 0, True)
            item["seed"] = torch.tensor(seed, dtype=torch.int64)
            return item
        raise DatasetMostlyBad(
            f"{self.num_retries} attempts to load a training clip failed (last: "
            f"{self.records[video_idx].path}); too many unreadable videos? See the warnings and "
            f"{self.bad_report or 'set a bad-file report path'}."
        )

    def _test_item(self, index: int) -> dict:
        video_idx, view = divmod(index, self.num_views * self.num_crops)
        temporal_idx, spatial_idx = divmod(view, self.num_crops)
        self.reads += 1
        try:
            frames = self.load_frames(video_idx, temporal_idx)
        except Exception as e:  # any reader failure is a skip (DecodeError and others)
            self._fail(video_idx, e)
            size = self.test_crop_size
            zeros = torch.zeros(3, self.num_frames, size, size, dtype=torch.uint8)
            return self._item(zeros, video_idx, view, False)
        video = test_view(
            frames,
            crop_size=self.test_crop_size,
            spatial_idx=spatial_idx,
            num_crops=self.num_crops,
        )
        return self._item(video, video_idx, view, True)

    def __getitem__(self, key) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, None)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        if not self.train:
            return self._test_item(index)
        if seed is None:
            seed = int(torch.randint(2**62, ()))
        return self._train_item(index, int(seed))
