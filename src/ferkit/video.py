"""Video in and out: decoding, frame sampling, paper 002's representative-frame extractor, per-face
temporal smoothing of predictions, and writing annotated output.

Frames are (H, W, 3) BGR uint8, as OpenCV decodes them.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence, TypeVar

import numpy as np

from ferkit.checks import check_count, check_fraction, check_number
from ferkit.errors import ConfigError, FerkitWarning, OutputError, VideoError
from ferkit.io_utils import check_writable_file, copy_into, is_special_file, opencv_path, temporary_file_for

T = TypeVar("T")

# A container's frame count may be an estimate (duration x fps), so only a clear shortfall is reported:
# fewer than this fraction of the promised frames, and at least TRUNCATED_MIN_MISSING of them missing.
TRUNCATED_FRACTION = 0.9
TRUNCATED_MIN_MISSING = 2


# Frame rate assumed for a source that reports none (CAP_PROP_FPS 0 or NaN: some cameras and containers).
DEFAULT_FPS = 25.0
# The slowest annotated copy written: OpenCV's FFmpeg writer fails to open at 0.001 frames/s (0.1 opens with every codec).
MIN_WRITER_FPS = 0.1


@dataclass
class VideoInfo:
    """What a source reports once open; ``iter_frames(info=)`` fills it in before yielding the first frame."""

    fps: float = 0.0  # frames per second as the source reports it: 0 or NaN when it reports none

    def sampled_fps(self, every_n: int) -> float:
        """The rate at which every ``every_n``-th frame plays at the source's speed: an annotated copy's frame rate
        (the source's fps / every_n, with DEFAULT_FPS for a source that reports none; at least MIN_WRITER_FPS)."""
        fps = self.fps if math.isfinite(self.fps) and self.fps > 0 else DEFAULT_FPS
        return max(MIN_WRITER_FPS, fps / every_n)


class TruncatedVideoWarning(FerkitWarning):
    """A video file stopped decoding well before the frame count its container promises (truncated or damaged)."""


def check_sampling(every_n: object, max_frames: object) -> None:
    """``every_n`` >= 1 and ``max_frames`` None or >= 1, as ``iter_frames`` takes them (and ``--max-frames``: a run
    asked for no frame would silently check nothing, not even that the video exists)."""
    check_count("every_n", every_n, least=1)
    check_count("max_frames", max_frames, least=1, optional=True)


@contextlib.contextmanager
def open_video(source: str | Path | int) -> Iterator["cv2.VideoCapture"]:  # noqa: F821
    """Open a video file (path) or a camera (integer index) and release it on exit.

    Raises VideoError when the file is missing, cannot be decoded, or the camera cannot be opened.
    """
    import cv2

    if isinstance(source, bool) or not isinstance(source, (str, os.PathLike, int)):
        raise VideoError(f"video source must be a file path or a camera index (int), got {type(source).__name__}")
    if isinstance(source, int):
        if source < 0:  # OpenCV's capture crashes the whole process (segmentation fault) on a negative index here
            raise VideoError(f"camera index must be >= 0 (0 is the first camera), got {source}")
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            capture.release()
            raise VideoError(f"cannot open camera {source}: check that it is connected and not used by another program")
    else:
        path = Path(source)
        if path.is_dir():
            raise VideoError(f"{path} is a folder, not a video file")
        if not path.is_file():
            raise VideoError(f"video file not found: {path}")
        capture = cv2.VideoCapture(opencv_path(path, "video", VideoError))
        if not capture.isOpened():
            capture.release()
            raise VideoError(f"cannot decode video {path}: the file is corrupt or its codec is not supported by OpenCV's FFmpeg")
    try:
        yield capture
    finally:
        capture.release()


def iter_frames(
    source: str | Path | int, *, every_n: int = 1, max_frames: int | None = None, info: VideoInfo | None = None
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(frame_index, timestamp_s, frame_bgr)`` for every ``every_n``-th frame (>= 1), at most ``max_frames``
    (>= 1; None = to the end). ``info`` receives the source's frame rate when the video opens.

    ``frame_index`` counts decoded frames from 0. ``timestamp_s`` is ``frame_index / fps`` for files
    (falling back to the container's position when fps is unknown) and seconds since opening for cameras.
    Skipped frames are only grabbed, not decoded. A file that opens but yields no frame raises VideoError;
    one that stops well short of the frame count its container promises warns (``TruncatedVideoWarning``),
    since its results silently cover only the start of the video. Stopping at ``max_frames`` or closing the
    generator early never warns.
    """
    import cv2

    check_sampling(every_n, max_frames)
    is_camera = isinstance(source, int) and not isinstance(source, bool)
    with open_video(source) as capture:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if info is not None:
            info.fps = fps  # sampled_fps stands in DEFAULT_FPS for a source that reports none (0 or NaN)
        promised = 0 if is_camera else int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        started = time.monotonic()
        index, yielded = 0, 0
        while True:
            if index % every_n:
                if not capture.grab():
                    break
                index += 1
                continue
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            if is_camera:
                timestamp = time.monotonic() - started
            elif fps > 0:
                timestamp = index / fps
            else:
                timestamp = float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            yield index, timestamp, frame
            yielded += 1
            index += 1
            if max_frames is not None and yielded >= max_frames:
                return
        if index == 0:
            if is_camera:
                raise VideoError(f"no frame could be read from camera {source}")
            raise VideoError(f"no frame could be decoded from {source}: the file is empty, corrupt or truncated")
        warn_if_truncated(source, index, promised)


def warn_if_truncated(source: str | Path, decoded: int, promised: int) -> None:
    """Warn when ``decoded`` frames fall clearly short of the ``promised`` count (0 or less: unknown, no warning)."""
    if promised > 0 and decoded < TRUNCATED_FRACTION * promised and promised - decoded >= TRUNCATED_MIN_MISSING:
        warnings.warn(f"{source}: decoding stopped after {decoded} of the {promised} frames its container promises; "
                      f"the file is probably truncated or damaged, so its results cover only those frames",
                      TruncatedVideoWarning, stacklevel=3)


def read_ahead(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Yield what ``items`` yields, produced up to ``depth`` items ahead on a background thread.

    Why: OpenCV decodes with the GIL released, so frame k+1 is decoded while frame k is classified. An
    exception in ``items`` is raised here, in the consumer; closing this generator early stops the thread and
    closes ``items`` (releasing a video capture). ``depth=0`` yields directly, without a thread.
    """
    import queue
    import threading

    check_count("read-ahead depth (0 = no thread)", depth, least=0)
    if depth == 0:
        yield from items
        return
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((None, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, which re-raises it
            buffer.put((exc, None))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        buffer.put((None, done))

    thread = threading.Thread(target=produce, name="ferkit-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            error, item = buffer.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get(timeout=0.1)
            except queue.Empty:
                pass


# ---------------------------------------------------------------------------------------------------------
# Paper 002, section 3.1: the frame extractor.


def frame_series(frames: Iterable[np.ndarray], *, sigma: float = 1.0) -> np.ndarray:
    """(N,) float64 series T_t = sum of the Gaussian-filtered frame t (paper 002: X'_t = G * X_t, T_t = sum X'_t).

    Frames are (H, W) or (H, W, C); every channel is filtered and summed. Note: a normalised Gaussian
    conserves the sum up to border effects, so this filter changes T only slightly; it is kept because it is
    the paper's step.
    """
    import cv2

    check_number("sigma", sigma, low=0.0, low_inclusive=False, meaning="of the Gaussian filter, in pixels")
    values = []
    for frame in frames:
        array = np.asarray(frame)
        if array.ndim not in (2, 3):
            raise ConfigError(f"frames must be (H, W) or (H, W, C) arrays, got shape {array.shape}")
        blurred = cv2.GaussianBlur(array.astype(np.float32), (0, 0), sigmaX=sigma, sigmaY=sigma)
        values.append(float(blurred.sum(dtype=np.float64)))
    return np.asarray(values, dtype=np.float64)


# Leys et al. 2013 (paper 002's ref. [38]): scale the median absolute deviation by 1.4826 (the normal
# consistency constant) and call |x - median| / scaled_MAD > 2.5 an outlier ("moderately conservative").
MAD_CONSISTENCY = 1.4826
# Consistency constant of the mean absolute deviation, sqrt(pi / 2): used only when the MAD is 0.
MEAN_AD_CONSISTENCY = 1.2533
DEFAULT_LAGS: tuple[int, ...] = (1, 2, 4, 8)


def robust_z_scores(values: np.ndarray) -> np.ndarray:
    """|x - median| / (1.4826 * MAD) per value (Leys et al. 2013).

    When more than half the values are equal the MAD is 0; the mean absolute deviation around the median
    (times sqrt(pi/2)) is used instead, and a constant series scores 0 everywhere.
    """
    values = np.asarray(values, dtype=np.float64)
    deviation = np.abs(values - np.median(values))
    scale = MAD_CONSISTENCY * float(np.median(deviation))
    if scale <= 0:
        scale = MEAN_AD_CONSISTENCY * float(np.mean(deviation))
    if scale <= 0:
        return np.zeros_like(values)
    return deviation / scale


def select_representative_indices(
    series: Sequence[float] | np.ndarray,
    n: int = 20,
    lags: Sequence[int] = DEFAULT_LAGS,
    trim: int = 20,
    mad_threshold: float | None = 2.5,
) -> list[int]:
    """Paper 002's frame extractor on a 1-D series: indices (into ``series``) of at most ``n`` frames, ascending.

    Steps: drop the first and last ``trim`` values (near-neutral frames); for each lag m, difference
    T'_t = T_t - T_{t-m} (attributed to frame t, the later one); flag frames whose robust z-score
    (``robust_z_scores``) exceeds ``mad_threshold``; merge the flags of all lags without duplicates; keep the
    ``n`` frames with the largest z-score (over lags; ties to the earlier frame).

    Choices where the paper is silent: lags (1, 2, 4, 8) frames; the *median* absolute deviation of its
    reference [38] (the text says "mean"); threshold 2.5 as [38] recommends; ranking by z-score. Fewer than
    ``n`` indices come back when fewer frames are outliers (a static video has no representative change);
    ``mad_threshold=None`` ranks every frame instead, so exactly min(n, frames with a difference) come back
    (for building datasets with a fixed number of frames per clip, as paper 002 does with twenty).
    """
    values = np.asarray(series, dtype=np.float64)
    if values.ndim != 1:
        raise ConfigError(f"series must be 1-D, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ConfigError("the frame series holds NaN or inf (frames with NaN pixels?); frames must be finite")
    check_count("n (frames to keep)", n, least=1)
    check_count("trim", trim, least=0)
    if isinstance(lags, (int, np.integer)) or not all(isinstance(lag, (int, np.integer)) and not isinstance(lag, bool) for lag in lags):
        raise ConfigError(f"lags must be a sequence of positive int frame offsets such as (1, 2, 4, 8), got {lags!r}")
    lags = tuple(int(lag) for lag in lags)
    if not lags or min(lags) < 1:
        raise ConfigError(f"lags must be a non-empty set of positive frame offsets, got {lags}")
    if mad_threshold is not None:
        check_number("mad_threshold", mad_threshold, low=0.0, low_inclusive=False, meaning="None ranks every frame")
    kept = values[trim : len(values) - trim]
    if len(kept) <= max(lags) + 1:
        raise ConfigError(
            f"a series of {len(values)} frames leaves {len(kept)} after trimming {trim} at each end, too few for "
            f"lag {max(lags)}: pass a smaller trim (or smaller lags) for short videos"
        )
    best_score = np.zeros(len(kept))
    flagged = np.zeros(len(kept), dtype=bool)
    for lag in sorted(set(lags)):
        scores = robust_z_scores(kept[lag:] - kept[:-lag])
        flagged[lag:] |= True if mad_threshold is None else scores > mad_threshold
        best_score[lag:] = np.maximum(best_score[lag:], scores)
    candidates = np.flatnonzero(flagged)
    order = candidates[np.lexsort((candidates, -best_score[candidates]))]
    return sorted(int(index) + trim for index in order[:n])


def representative_frames(
    source: str | Path | Sequence[np.ndarray] | np.ndarray,
    n: int = 20,
    lags: Sequence[int] = DEFAULT_LAGS,
    sigma: float = 1.0,
    trim: int = 20,
    mad_threshold: float | None = 2.5,
) -> list[int]:
    """Indices of the (at most) ``n`` most representative frames of a video (paper 002, section 3.1).

    ``source``: a video file path (decoded once, frames not kept) or a sequence / (N, H, W[, C]) array of
    frames. Indices count decoded frames from 0, as ``iter_frames`` does. See ``select_representative_indices``.
    """
    if isinstance(source, (int, np.integer)):
        raise ConfigError("representative_frames needs a whole video (a file or a sequence of frames), not a live camera index")
    if isinstance(source, (str, os.PathLike)):
        series = frame_series((frame for _, _, frame in iter_frames(source)), sigma=sigma)
    else:
        series = frame_series(source, sigma=sigma)
    return select_representative_indices(series, n=n, lags=lags, trim=trim, mad_threshold=mad_threshold)


# ---------------------------------------------------------------------------------------------------------
# Temporal smoothing of per-face predictions.


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    inter_w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    inter_h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = inter_w * inter_h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


class TemporalSmoother:
    """Exponential moving average of class probabilities per face track, across video frames.

    ``update(boxes, probabilities)`` matches this frame's boxes to the tracks of earlier frames by IoU
    (optimal one-to-one assignment, scipy's Hungarian solver; pairs under ``iou_threshold`` stay
    unmatched), then per matched track ``p_smooth = alpha * p_now + (1 - alpha) * p_smooth_before``; an
    unmatched box starts a new track with ``p_smooth = p_now``. A track unseen for more than ``max_missed``
    updates is dropped. Rows of the result still sum to 1 when the inputs do.
    """

    def __init__(self, *, alpha: float = 0.5, iou_threshold: float = 0.3, max_missed: int = 5) -> None:
        alpha = check_fraction("alpha", alpha, meaning="weight of the newest frame")
        if not 0.0 <= iou_threshold <= 1.0:
            raise ConfigError(f"iou_threshold must lie in [0, 1], got {iou_threshold}")
        if max_missed < 0:
            raise ConfigError(f"max_missed must be >= 0, got {max_missed}")
        self.alpha = float(alpha)
        self.iou_threshold = float(iou_threshold)
        self.max_missed = int(max_missed)
        self.reset()

    def reset(self) -> None:
        self._tracks: dict[int, dict] = {}
        self._next_id = 0

    @property
    def track_ids(self) -> list[int]:
        return sorted(self._tracks)

    def update(
        self, boxes: Sequence[Sequence[float]], probabilities: np.ndarray
    ) -> tuple[list[int], np.ndarray]:
        """Smooth one frame. ``boxes``: N (x, y, w, h) (or objects with ``.box``); ``probabilities``: (N, C).

        Returns (track id per box, (N, C) float64 smoothed probabilities), in the order of ``boxes``.
        """
        from scipy.optimize import linear_sum_assignment

        boxes = [tuple(getattr(box, "box", box)) for box in boxes]
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if probabilities.ndim == 1 and len(boxes) == 1:
            probabilities = probabilities[None, :]
        if probabilities.ndim != 2 or probabilities.shape[0] != len(boxes):
            raise ConfigError(
                f"probabilities must have shape (N, C) with N = {len(boxes)} boxes, got {probabilities.shape}"
            )
        if any(len(box) != 4 for box in boxes):
            raise ConfigError(f"boxes must be (x, y, w, h), got {[box for box in boxes if len(box) != 4][0]}")
        # one NaN frame spoiled its track for good, and rows that are no distribution were passed on as if they were
        if probabilities.size and (not np.isfinite(probabilities).all() or probabilities.min() < 0
                                   or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)):
            raise ConfigError("probabilities must be finite, >= 0, and each row must sum to 1 (class probabilities per face)")
        track_ids = list(self._tracks)
        assigned: dict[int, int] = {}
        if boxes and track_ids:
            iou = np.array([[box_iou(box, self._tracks[t]["box"]) for t in track_ids] for box in boxes])
            rows, cols = linear_sum_assignment(-iou)
            assigned = {int(r): track_ids[c] for r, c in zip(rows, cols) if iou[r, c] >= self.iou_threshold}
        for track in self._tracks.values():
            track["missed"] += 1
        result_ids, smoothed = [], np.empty_like(probabilities)
        for row, box in enumerate(boxes):
            track_id = assigned.get(row)
            if track_id is None:
                track_id = self._next_id
                self._next_id += 1
                value = probabilities[row].copy()
            else:
                previous = self._tracks[track_id]["probabilities"]
                if previous.shape != probabilities[row].shape:
                    raise ConfigError(f"class count changed between frames: {previous.shape[0]} -> {probabilities.shape[1]}")
                value = self.alpha * probabilities[row] + (1.0 - self.alpha) * previous
            self._tracks[track_id] = {"box": box, "probabilities": value, "missed": 0}
            result_ids.append(track_id)
            smoothed[row] = value
        self._tracks = {t: track for t, track in self._tracks.items() if track["missed"] <= self.max_missed}
        return result_ids, smoothed


# ---------------------------------------------------------------------------------------------------------
# Writing annotated video.

# Codecs tried in order; OpenCV's FFmpeg picks the container from the file suffix.
CODECS_BY_SUFFIX: dict[str, tuple[str, ...]] = {".mp4": ("mp4v", "MJPG"), ".avi": ("MJPG", "XVID", "mp4v")}
FALLBACK_CODECS: tuple[str, ...] = ("mp4v", "MJPG")


def check_video_output(path: str | Path, *, overwrite: bool) -> None:
    """Refuse, before any frame is decoded, a video output that could not be written at the end: a folder in its
    place, an existing file without ``overwrite``, a folder that cannot be written into."""
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{target} is a folder; give a file name for the annotated video")
    if target.exists() and not overwrite:
        raise VideoError(f"{target} already exists; pass overwrite=True or choose another output path")
    check_writable_file(target)


class VideoWriter:
    """Write (H, W, 3) BGR (or (H, W) gray) uint8 frames to ``path``; use as a context manager.

    Frames go to a temporary file next to ``path`` that is renamed onto it on a clean exit (deleted after an
    exception, or when the rename fails), so an interrupted run leaves no half-written video. An existing ``path``
    raises unless ``overwrite``; a folder or an unwritable place is an OutputError before any frame is written.
    ``frame_size`` is (width, height); a frame of another size raises VideoError (OpenCV would drop it silently).
    Codec: ``codec`` if given, else mp4v then MJPG for .mp4, MJPG then XVID for .avi.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fps: float,
        frame_size: tuple[int, int],
        codec: str | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        check_video_output(self.path, overwrite=overwrite)
        check_number("fps", fps, low=0.0, high=1000.0, low_inclusive=False)  # fps=inf made OpenCV's writer hang
        try:
            width, height = (int(v) for v in frame_size)
        except (TypeError, ValueError):
            raise ConfigError(f"frame_size must be (width, height) in pixels, got {frame_size!r}") from None
        if width < 1 or height < 1:
            raise ConfigError(f"frame_size must be (width, height) with positive values, got {frame_size}")
        if codec is not None and (not isinstance(codec, str) or len(codec) != 4):
            raise ConfigError(f"codec must be a four-character code such as 'mp4v' or 'MJPG', got {codec!r}")
        self.frame_size = (width, height)
        self.fps = float(fps)
        self._tmp = temporary_file_for(self.path, self.path.suffix or ".avi")  # OpenCV picks the container from the suffix
        try:
            self._writer, self.codec = self._open(codec)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        self.frames_written = 0

    def _open(self, codec: str | None) -> tuple["cv2.VideoWriter", str]:  # noqa: F821
        """OpenCV's writer on the temporary file with the first codec that opens."""
        import cv2

        candidates = (codec,) if codec else CODECS_BY_SUFFIX.get(self.path.suffix.lower(), FALLBACK_CODECS)
        for fourcc in candidates:
            writer = cv2.VideoWriter(opencv_path(self._tmp, "the video output", OutputError), cv2.VideoWriter_fourcc(*fourcc), self.fps, self.frame_size)
            if writer.isOpened():
                return writer, fourcc
            writer.release()
        raise VideoError(
            f"no video codec could write {self.path} (tried {', '.join(candidates)}); "
            f"try an .avi path (MJPG is almost always available) or another codec="
        )

    def write(self, frame: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            raise VideoError(f"VideoWriter for {self.path} is closed")
        frame = np.asarray(frame)
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] not in (3, 4)):
            # (H, W, 2) frames were counted as written and left a video with no decodable frame
            raise VideoError(f"frames must be (H, W, 3), (H, W, 4) or (H, W) uint8, got {frame.shape} {frame.dtype}")
        if (frame.shape[1], frame.shape[0]) != self.frame_size:
            raise VideoError(
                f"frame is {frame.shape[1]}x{frame.shape[0]} but {self.path} was opened for "
                f"{self.frame_size[0]}x{self.frame_size[1]} (width x height); resize the frame first"
            )
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        self._writer.write(np.ascontiguousarray(frame[:, :, :3]))
        self.frames_written += 1

    def close(self, *, keep: bool = True) -> Path:
        """Finish the file and move it onto ``path`` (``keep=False`` discards it instead). A failed move is an
        OutputError; the temporary file is removed either way."""
        if self._writer is None:
            return self.path
        self._writer.release()
        self._writer = None
        try:
            if keep and is_special_file(self.path):  # e.g. /dev/null: written into, never renamed over
                copy_into(self._tmp, self.path)
            elif keep:
                os.replace(self._tmp, self.path)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        finally:
            self._tmp.unlink(missing_ok=True)
        return self.path

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(keep=exc_type is None)
