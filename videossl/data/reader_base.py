"""What every video reader shares: the interface, ``DecodeError`` and opening a container."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class DecodeError(RuntimeError):
    """A video could not be opened or decoded exactly: ``path`` and ``reason`` say which and
    why. The dataset skips the file and lists it once in the bad-file report."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason

    def __reduce__(self):  # picklable across loader workers
        return type(self), (self.path, self.reason)


def short_side_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(H, W) with the short side scaled to ``short_side`` (0 = unchanged), aspect kept."""
    if short_side <= 0:
        return height, width
    if height <= width:
        return short_side, max(1, round(width * short_side / height))
    return max(1, round(height * short_side / width)), short_side


class VideoReader:
    """Common interface. Use as a context manager or call ``close()``."""

    num_frames: int
    fps: float

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:  # uint8 [T,H,W,3]
        raise NotImplementedError

    def close(self) -> None:
        """Release the file."""

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_container(path: str):
    """``av.open(path)`` with a decodable video stream, or DecodeError("cannot open ...")."""
    import av

    try:
        container = av.open(path)
    except Exception as e:  # noqa: BLE001  av raises many error types
        raise DecodeError(path, f"cannot open: {e}") from e
    streams = container.streams.video
    if not streams or streams[0].codec_context is None:
        container.close()
        what = "no video stream" if not streams else "no decodable video stream"
        raise DecodeError(path, f"cannot open: {what} (damaged, truncated or unsupported)")
    return container
