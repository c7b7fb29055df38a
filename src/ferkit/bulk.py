"""Bulk inference that streams: results come out, in input order, as soon as they are computed, and
memory stays bounded whatever the number of files or the length of a video.

- Inputs are expanded lazily: folders are walked one directory listing at a time, sorted.
- Image decoding, face detection and alignment run in ``workers`` threads (OpenCV releases the GIL),
  each with its own detector, with at most ``batch_size + 2 * workers`` images in flight; the face
  crops of consecutive images are classified together, ``batch_size`` images at a time.
- Videos are decoded frame by frame (``Recognizer.predict_video``), never held whole.

Writing results as they come, and resuming, is ``ferkit.bulk_output``.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np

from ferkit.constants import COLORS, VIDEO_SUFFIXES
from ferkit.errors import ConfigError, FerkitError, FerkitWarning

if TYPE_CHECKING:
    from ferkit.recognizer import ImagePrediction, Recognizer



@dataclass(frozen=True)
class FailedInput:
    """An input that could not be processed (unreadable file, no face where one was required, bad video)."""

    source: str
    error: str


def is_video_path(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike)) and Path(item).suffix.lower() in VIDEO_SUFFIXES


def iter_input_paths(paths: Iterable[str | os.PathLike], *, skipped: list[Path] | None = None,
                     exclude: Iterable[str | os.PathLike] = ()) -> Iterator[Path]:
    """Files as given; folders walked recursively, each directory's entries sorted, for every file a single-file
    run takes: videos by suffix, images by content (.gif included). The folders' other files are appended to
    ``skipped`` (when given) so that the caller reports them; nothing is dropped silently. A folder reached again
    through a symbolic link (a loop, or a second link to it) is walked once and the link is reported in ``skipped``;
    the ``exclude`` folders (the run's own annotated copies) are not walked.

    Lazy, so a folder of a million files is never listed whole in memory at once (only one directory's names).
    """
    from ferkit.data.image_io import can_decode_image, is_image_file

    walked: set[tuple[int, int]] = set()
    excluded = {Path(folder).expanduser().resolve() for folder in exclude}  # may not exist yet: made during the walk

    def walk(folder: Path) -> Iterator[Path]:
        if folder.resolve() in excluded:
            return
        try:
            identity = _identity(folder)
        except OSError:  # a broken link or a loop the OS refuses to follow
            identity = None
        if identity is None or identity in walked:
            if skipped is not None and (identity is None or folder.is_symlink()):
                skipped.append(folder)
            return
        walked.add(identity)
        with os.scandir(folder) as entries:
            names = sorted((entry.name, entry.is_dir(follow_symlinks=True)) for entry in entries)
        for name, is_dir in names:
            path = folder / name
            if is_dir:
                yield from walk(path)
            elif is_image_file(path) or path.suffix.lower() in VIDEO_SUFFIXES or can_decode_image(path):
                yield path
            elif skipped is not None:
                skipped.append(path)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from walk(path)
        else:
            yield path


def _identity(folder: Path) -> tuple[int, int]:
    """(device, inode) of the folder a path leads to: the same folder however it was reached."""
    info = folder.stat()
    return info.st_dev, info.st_ino


@dataclass
class _Located:
    """One image after decoding, detection and alignment (in a worker), before classification."""

    source: str
    width: int = 0
    height: int = 0
    faces: list = field(default_factory=list)
    crops: np.ndarray | None = None
    error: FerkitError | None = None


class _Locator:
    """Decode + detect + align, callable from several threads: each thread builds its own detector
    (OpenCV's cascade and YuNet objects keep per-call state and are not safe to share)."""

    def __init__(self, recognizer: "Recognizer", color: str, require_face: bool) -> None:
        self.recognizer = recognizer
        self.color = color
        self.require_face = require_face
        self.local = threading.local()

    def __call__(self, item: Any, source: str) -> _Located:
        from ferkit.errors import ImageReadError

        if not hasattr(self.local, "detector"):
            self.local.detector = self.recognizer.make_detector()
        try:
            if isinstance(item, (str, os.PathLike)) and Path(item).is_dir():
                raise ImageReadError(f"{item} is a folder, not an image file; folders are not walked here: pass their files, "
                                     f"e.g. from ferkit.bulk.iter_input_paths([folder])")
            bgr = self.recognizer.to_bgr(item, self.color)
            faces, crops = self.recognizer.locate_faces(bgr, detector=self.local.detector)
            if not faces and self.require_face:
                raise self.recognizer.no_face_error(source, bgr.shape[1], bgr.shape[0])
            return _Located(source, bgr.shape[1], bgr.shape[0], faces, crops)
        except FerkitError as exc:
            return _Located(source, error=exc)


def predict_stream(
    recognizer: "Recognizer",
    inputs: Iterable[Any],
    *,
    workers: int = 0,
    batch_size: int = 64,
    color: str = "bgr",
    require_face: bool = False,
    errors: str = "raise",
    every_n: int = 5,
    max_frames: int | None = None,
    annotated_dir: str | Path | None = None,
    overwrite: bool = False,
    video_options: dict[str, Any] | None = None,
    annotated_roots: Iterable[str | Path] = (),
) -> Iterator["ImagePrediction | FailedInput"]:
    """Predictions for ``inputs`` (an iterable of image/video paths, arrays, PIL images), yielded in input order.
    The arguments are checked at the call, before any input is read; a folder among the inputs is not walked
    (``iter_input_paths`` does that).

    errors: "raise" stops at the first bad input; "record" yields a ``FailedInput`` for it and goes on.
    A video yields one ``ImagePrediction`` per sampled frame (``every_n``, ``max_frames``).
    annotated_dir: annotated copies of images (PNG) and videos (AVI) are written there (see ``AnnotatedNames``);
    annotated_roots: the folders the inputs were found in, whose layout the annotated copies keep.
    video_options: the video path's knobs (``detect_every``, ``detect_scale``, ``read_ahead``; see ``Recognizer.predict_video``).
    """
    _check_stream_arguments(inputs, workers=workers, batch_size=batch_size, color=color, errors=errors, every_n=every_n, max_frames=max_frames)
    names = None if annotated_dir is None else AnnotatedNames(annotated_dir, annotated_roots)
    finish = _Finisher(recognizer, errors, names, overwrite, video_options or {})
    return _stream(inputs, _Locator(recognizer, color, require_face), finish, workers=workers, batch_size=batch_size, every_n=every_n,
                   max_frames=max_frames)


def _stream(inputs: Iterable[Any], locate: _Locator, finish: "_Finisher", *, workers: int, batch_size: int, every_n: int,
            max_frames: int | None) -> Iterator["ImagePrediction | FailedInput"]:
    """``predict_stream``'s loop over checked arguments: images located ahead in ``workers`` threads, classified a
    batch at a time; videos in place, after the images before them."""
    window = batch_size + 2 * workers
    pool = ThreadPoolExecutor(workers, thread_name_prefix="ferkit-decode") if workers else None
    pending: deque[Future | _Located] = deque()
    try:
        for position, item in enumerate(inputs):
            if is_video_path(item):
                while pending:  # the images before the video come out first
                    yield from finish.batch(pending, batch_size)
                yield from finish.video(Path(item), every_n=every_n, max_frames=max_frames)
                continue
            source = str(item) if isinstance(item, (str, os.PathLike)) else f"<input {position}>"
            pending.append(pool.submit(locate, item, source) if pool else locate(item, source))
            if len(pending) >= window:
                yield from finish.batch(pending, batch_size)
        while pending:
            yield from finish.batch(pending, batch_size)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _check_stream_arguments(inputs: Any, *, workers: int, batch_size: int, color: str, errors: str, every_n: int, max_frames: int | None) -> None:
    """``predict_stream``'s arguments, refused once before any input (a bad ``every_n`` would otherwise be recorded as
    the failure of every video); ``inputs`` must be a collection, not one image or path whose items (characters,
    rows) would each be taken for an input. Arrays that are collections stay accepted: a stack of images
    (N, H, W[, C]) or a 1-D array of paths; one image is (H, W) or (H, W, 3|4)."""
    from ferkit.checks import check_count
    from ferkit.data.image_io import max_image_pixels
    from ferkit.video import check_sampling

    one_image = isinstance(inputs, np.ndarray) and (inputs.ndim == 2 or (inputs.ndim == 3 and inputs.shape[2] in (3, 4)))
    if one_image or isinstance(inputs, (str, bytes, os.PathLike)) or type(inputs).__module__.startswith("PIL."):
        what = f"array of shape {inputs.shape}" if one_image else type(inputs).__name__
        raise ConfigError(f"inputs must be an iterable of images or paths, got one {what}; wrap a single one in a list")
    check_count("workers", workers, least=0)
    check_count("batch_size", batch_size, least=1)
    if color not in COLORS:
        raise ConfigError(f"color must be 'bgr' or 'rgb', got {color!r}")
    if errors not in ("raise", "record"):
        raise ConfigError(f"errors must be 'raise' or 'record', got {errors!r}")
    check_sampling(every_n, max_frames)
    max_image_pixels()  # a bad $FERKIT_MAX_IMAGE_PIXELS refused once, not recorded as the failure of every image


class AnnotatedNames:
    """Where each input's annotated copy goes, so that one run never writes two inputs to one file.

    An input found in a folder given as a root keeps its path below that root (``photos/a/face.png`` ->
    ``OUT/a/face_annotated.png``), so two folders' ``face.png`` stay apart; other inputs go to ``OUT`` itself.
    A name this run has already given out (``a.jpg`` beside ``a.png``, or two files of one name given one
    by one) is made unique with the input's suffix, then a number, and a ``FerkitWarning`` says so once the copy
    is written (``written``): an input that fails to decode gets no copy, so nothing to warn of.
    """

    def __init__(self, out_dir: str | Path, roots: Iterable[str | Path] = ()) -> None:
        self.out_dir = Path(out_dir)
        self.roots = sorted((Path(root).resolve() for root in roots), key=lambda root: len(root.parts), reverse=True)  # deepest first
        self.given: dict[Path, str] = {}
        self.renamed: dict[Path, str] = {}  # target -> the note to warn with once it is written

    def target(self, source: Path, ext: str) -> Path:
        resolved = source.resolve()
        root = next((root for root in self.roots if resolved.is_relative_to(root)), None)
        folder = self.out_dir / resolved.parent.relative_to(root) if root is not None else self.out_dir
        stem, suffix = source.stem, source.suffix.lstrip(".")
        candidates = [f"{stem}_annotated{ext}", f"{stem}_{suffix}_annotated{ext}" if suffix else None]
        candidates = [name for name in candidates if name] + [f"{stem}_{suffix}_{n}_annotated{ext}" for n in range(2, 10_000)]
        for position, name in enumerate(candidates):
            target = folder / name
            if target not in self.given:
                if position:
                    self.renamed[target] = (f"{source}: annotated copy written as {target}, since {self.given[folder / candidates[0]]} "
                                            f"took {folder / candidates[0]}")
                self.given[target] = str(source)
                return target
        raise ConfigError(f"{source}: no free name for its annotated copy in {folder}")

    def written(self, target: Path) -> None:
        """Warn, now that ``target`` is on disk, when it got another name than its input's usual one."""
        note = self.renamed.pop(target, None)
        if note is not None:
            warnings.warn(note, FerkitWarning, stacklevel=2)


class _Finisher:
    """Classification of located images, a batch at a time, and the video path."""

    def __init__(self, recognizer: "Recognizer", errors: str, names: AnnotatedNames | None, overwrite: bool, video_options: dict[str, Any]) -> None:
        self.recognizer = recognizer
        self.video_options = video_options
        self.errors = errors
        self.names = names
        self.overwrite = overwrite

    def _failed(self, source: str, exc: FerkitError) -> FailedInput:
        if self.errors == "raise":
            raise exc
        return FailedInput(source, str(exc))

    def batch(self, pending: deque, batch_size: int) -> Iterator["ImagePrediction | FailedInput"]:
        located = [pending.popleft() for _ in range(min(batch_size, len(pending)))]
        located = [item.result() if isinstance(item, Future) else item for item in located]
        crops = [item.crops for item in located if item.error is None and item.faces]
        probs = self.recognizer.classify_crops(np.concatenate(crops)) if crops else np.zeros((0, len(self.recognizer.class_names)))
        start = 0
        for item in located:
            if item.error is not None:
                yield self._failed(item.source, item.error)
                continue
            n = len(item.faces)
            result = self.recognizer.prediction(item.source, item.width, item.height, item.faces, probs[start : start + n])
            start += n
            yield result
            if self.names is not None and not item.source.startswith("<input "):
                try:
                    self._annotate_image(Path(item.source), result)
                except FerkitError as exc:
                    yield self._failed(item.source, exc)

    def _annotate_image(self, path: Path, result: "ImagePrediction") -> None:
        from ferkit.io_utils import atomic_write_png

        target = self.names.target(path, ".png")
        if target.exists() and not self.overwrite:
            raise ConfigError(f"{target} exists; pass --overwrite to replace it")
        atomic_write_png(target, self.recognizer.annotate(path, result))
        self.names.written(target)

    def video(self, path: Path, *, every_n: int, max_frames: int | None) -> Iterator["ImagePrediction | FailedInput"]:
        target = self.names.target(path, ".avi") if self.names is not None else None
        try:
            yield from self.recognizer.predict_video(path, every_n=every_n, max_frames=max_frames, annotated_path=target, overwrite=self.overwrite,
                                                     **self.video_options)
        except FerkitError as exc:
            yield self._failed(str(path), exc)
            return
        if target is not None and target.exists():  # a video without a decodable frame raised above: no copy, no note
            self.names.written(target)
