"""Labelled video clips (MMI-style, one expression per clip) turned into representative frames.

Layouts: ``<root>/<class>/<clip>.avi`` or a CSV ``path,label[,subject]`` (paths relative to the
CSV). Each clip gives ``frames_per_clip`` frames chosen by ``ferkit.video.representative_frames``
(paper 002's frame extractor; evenly spaced frames when that module is unavailable or a clip
is too short for it, recorded in ``extra["frame_selection"]``). Frames are
assumed to be face crops already, or ``crop(frame_bgr) -> face`` is applied; faces are resized to
48x48 gray. The group of each frame is its subject when known, else its clip, so grouped splits
never put frames of one clip (or subject) on both sides.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from ferkit.constants import VIDEO_SUFFIXES
from ferkit.data.dataset import FaceDataset
from ferkit.data.folders import manifest_rows, require_dir
from ferkit.data.grouped import grouped_kfold_experiments, random_fraction_experiment, stratified_holdout, subset_with_extra
from ferkit.data.inspect import ProblemLog, csv_header
from ferkit.data.registry import ExperimentSplit, register_dataset
from ferkit.errors import ConfigError, DatasetError, FerkitWarning, VideoError
from ferkit.io_utils import opencv_path
from ferkit.labels import CANONICAL_LABELS, canonical_label

CSV_COLUMNS = ("path", "label")


def list_clips(path: str | Path, log: ProblemLog | None = None) -> list[tuple[Path, str, str | None]]:
    """(clip path, canonical class, subject or None) from a class-folder tree or a ``path,label[,subject]`` CSV."""
    log = log or ProblemLog(strict=True)
    path = Path(path).expanduser()
    if path.is_file():
        return _clips_from_csv(path, log)
    root = require_dir(path, "video dataset root")
    csvs = sorted(root.glob("*.csv"))
    if len(csvs) == 1:
        clips = _clips_from_csv(csvs[0], log)
        listed = {clip for clip, _, _ in clips}
        unlisted = [p for p in sorted(root.rglob("*")) if p.suffix.lower() in VIDEO_SUFFIXES and p.resolve() not in listed and p.is_file()]
        if unlisted:  # a manifest may list a subset on purpose, but the clips it leaves out are named, never ignored unseen
            warnings.warn(f"{csvs[0]} lists {len(clips)} clip(s); {len(unlisted)} other clip(s) under {root} are not used, e.g. "
                          f"{', '.join(str(p.relative_to(root)) for p in unlisted[:3])}", FerkitWarning, stacklevel=2)
        return clips
    if len(csvs) > 1:  # the class folders were read instead, and the subjects of the CSV lost, without a word
        raise DatasetError(f"{root} holds {len(csvs)} CSV manifests ({', '.join(p.name for p in csvs[:4])}); keep one, or name it: "
                           f"videos:{csvs[0]}")
    clips = []
    for entry in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if not entry.is_dir():
            log.add(f"{entry}: a file beside the class folders; clips go in {root}/<class>/<clip>.avi")
            continue
        try:
            name = canonical_label(entry.name)
        except Exception as exc:
            log.add(f"{entry}: {exc}")
            continue
        for item in sorted(p for p in entry.iterdir() if not p.name.startswith(".")):
            if item.is_file() and item.suffix.lower() in VIDEO_SUFFIXES:
                clips.append((item, name, None))
            else:
                log.add(f"{item}: not a video clip ({'a folder' if item.is_dir() else 'suffix ' + (item.suffix or 'none')}); "
                        f"clips are {root}/<class>/<clip>{{{','.join(sorted(VIDEO_SUFFIXES))}}}")
    if not clips:
        raise DatasetError(f"no clips under {root}: expected {root}/<class>/<clip>.avi or one CSV with columns path,label[,subject]")
    return clips


def _clips_from_csv(csv_path: Path, log: ProblemLog) -> list[tuple[Path, str, str | None]]:
    reader = manifest_rows(csv_path)
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DatasetError(f"{csv_path}: missing column(s) {missing}; expected header path,label[,subject]")
    clips, seen, absent = [], set(), []
    for line_no, row in enumerate(reader, start=2):
        try:
            name = canonical_label(row["label"] or "")
        except Exception:
            log.add(f"{csv_path} line {line_no}: unknown label {row['label']!r}")
            continue
        clip = (csv_path.parent / row["path"]).resolve()
        if clip in seen:
            log.add(f"{csv_path} line {line_no}: duplicate clip {row['path']!r}")
            continue
        seen.add(clip)
        if not clip.is_file():
            absent.append(row["path"])
            continue
        clips.append((clip, name, (row.get("subject") or "").strip() or None))
    if absent:
        log.add(f"{len(absent)} clip(s) listed in {csv_path} are missing, e.g. {', '.join(absent[:3])}")
    return clips


def choose_frames(clip: Path, n: int) -> tuple[list[int], str]:
    """(frame indices, how chosen): ``"extractor"`` (paper 002's representative frames), or
    ``"even"`` (``n`` evenly spaced frames) when the extractor is unavailable or the clip is too
    short for it (it raises ConfigError then)."""
    try:
        from ferkit.video import representative_frames
    except ImportError:
        representative_frames = None
    if representative_frames is not None:
        try:
            return sorted(int(i) for i in representative_frames(str(clip), n=n)), "extractor"
        except ConfigError:
            pass
    count = count_frames(clip)
    return sorted(set(np.linspace(0, count - 1, min(n, count)).round().astype(int).tolist())), "even"


def count_frames(clip: Path) -> int:
    import cv2

    capture = cv2.VideoCapture(opencv_path(clip, "video", VideoError))
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    if count == 0:
        raise VideoError(f"cannot decode any frame of {clip} (unsupported codec or not a video)")
    return count


def read_frames(clip: Path, indices: list[int], size: tuple[int, int], crop: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    """Decode the frames at ``indices`` -> (len(indices), H, W) uint8 gray."""
    import cv2

    wanted, out = set(indices), []
    capture = cv2.VideoCapture(opencv_path(clip, "video", VideoError))
    index = 0
    while len(out) < len(wanted) and capture.grab():
        if index in wanted:
            ok, frame = capture.retrieve()
            if not ok:
                raise VideoError(f"{clip}: frame {index} could not be decoded")
            face = crop(frame) if crop is not None else frame
            gray = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY) if face.ndim == 3 else face
            out.append(cv2.resize(gray, (size[1], size[0]), interpolation=cv2.INTER_AREA))
        index += 1
    capture.release()
    if len(out) != len(wanted):
        raise VideoError(f"{clip}: only {len(out)} of the {len(wanted)} chosen frames could be read")
    return np.stack(out).astype(np.uint8)


def load_video_frames(
    path: str | Path, *, frames_per_clip: int = 20, size: tuple[int, int] = (48, 48), crop: Callable[[np.ndarray], np.ndarray] | None = None
) -> FaceDataset:
    """Every clip's representative frames as (N, H, W) uint8; ids ``<clip>#<frame>``, groups subject (or clip).

    ``extra["clips"]`` (N,) clip ids; ``extra["frame_selection"]`` (N,) "extractor" or "even" per frame.
    """
    clips = list_clips(path)
    class_names = tuple(n for n in CANONICAL_LABELS if any(c == n for _, c, _ in clips))
    images, labels, ids, groups, clip_ids, chosen_by = [], [], [], [], [], []
    for clip, name, subject in clips:
        clip_id = f"{clip.parent.name}/{clip.stem}"
        indices, how = choose_frames(clip, frames_per_clip)
        chosen_by += [how] * len(indices)
        images.append(read_frames(clip, indices, size, crop))
        labels += [class_names.index(name)] * len(indices)
        ids += [f"{clip_id}#{i}" for i in indices]
        groups += [subject or clip_id] * len(indices)
        clip_ids += [clip_id] * len(indices)
    extra = {"clips": np.asarray(clip_ids), "frame_selection": np.asarray(chosen_by)}
    return FaceDataset(np.concatenate(images), np.asarray(labels, np.int64), class_names, tuple(ids), tuple(groups), "videos", extra)


def video_counts(path: str | Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    """Clip counts per class (frames are not decoded)."""
    counts: dict[str, int] = {}
    for _, name, _ in list_clips(path, log):
        counts[name] = counts.get(name, 0) + 1
    return {"clips": {n: counts[n] for n in CANONICAL_LABELS if n in counts}}


def looks_like_videos(path: Path) -> bool:
    """A ``path,label`` CSV (or a folder with exactly one), or class folders holding video files."""
    if path.is_file():
        return path.suffix.lower() == ".csv" and set(CSV_COLUMNS) <= set(csv_header(path))
    if not path.is_dir():
        return False
    csvs = list(path.glob("*.csv"))
    if len(csvs) == 1 and set(CSV_COLUMNS) <= set(csv_header(csvs[0])):
        return True
    return any(p.suffix.lower() in VIDEO_SUFFIXES for p in path.glob("*/*"))


@register_dataset(
    "videos", ("grouped70", "kfold10", "random70"),
    layout="<class>/<clip>.avi, or one CSV with columns path,label[,subject] (paths relative to the CSV)", spec="videos:/data/MMI",
    notes="20 representative frames per clip, 48x48 gray; grouped by subject (else clip); random70 (paper 002) leaks clips",
    counter=video_counts, detect=looks_like_videos,
)
def _video_splits(path: Path, protocol: str, seed: int) -> list[ExperimentSplit]:
    """grouped70: 30% of subjects/clips as test, 10% of the rest as validation. kfold10: grouped folds.
    random70: paper 002's random 70/30 frame split (MMI: 3329/1427), which leaks clips."""
    data = load_video_frames(path)
    if protocol == "random70":
        return [random_fraction_experiment(data, 0.7, seed, "random70")]
    if protocol == "kfold10":
        return grouped_kfold_experiments(data, 10, seed)
    keep, test_idx = stratified_holdout(data.labels, 0.3, seed, data.groups)
    pool = subset_with_extra(data, keep)
    train_idx, val_idx = stratified_holdout(pool.labels, 0.1, seed + 1, pool.groups)
    return [ExperimentSplit(
        "grouped70", subset_with_extra(pool, train_idx, "videos/train"), subset_with_extra(pool, val_idx, "videos/val"),
        subset_with_extra(data, test_idx, "videos/test"),
    )]
