"""AffectNet (manually annotated part): ``training.csv`` / ``validation.csv`` manifests + the image tree.

Manifest columns: ``subDirectory_filePath, face_x, face_y, face_width, face_height,
facial_landmarks, expression, valence, arousal``. ``expression`` is 0..10: 0 Neutral, 1 Happy,
2 Sad, 3 Surprise, 4 Fear, 5 Disgust, 6 Anger, 7 Contempt, 8 None, 9 Uncertain, 10 Non-Face.
Codes 8..10 are always dropped; the 7-class protocol also drops contempt. The official
validation set (500 per class) is the test split; our validation split is carved from training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.data.cache import cached_arrays, fingerprint
from ferkit.data.dataset import FaceDataset
from ferkit.data.folders import manifest_rows, require_dir
from ferkit.data.grouped import holdout_experiment
from ferkit.data.image_io import read_gray
from ferkit.data.inspect import ProblemLog, csv_header
from ferkit.data.registry import ExperimentSplit, register_dataset
from ferkit.errors import ConfigError, DatasetError, ImageReadError

# AffectNet codes 0..7 happen to follow ferkit's canonical order.
AFFECTNET_LABELS: tuple[str, ...] = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt")
DROPPED_CODES = {8: "None", 9: "Uncertain", 10: "Non-Face"}
REQUIRED_COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression")
MANIFESTS = {"train": "training.csv", "test": "validation.csv"}
IMAGE_DIRS = ("Manually_Annotated_Images", "Manually_Annotated/Manually_Annotated_Images", "Manually_Annotated_compressed", "images", ".")
CROP_MODES = ("auto", "box", "none")


@dataclass(frozen=True)
class AffectNetRow:
    id: str  # subDirectory_filePath
    path: Path
    label: int  # index into the class tuple of the chosen protocol
    box: tuple[int, int, int, int]  # x, y, width, height in the original image
    valence: float
    arousal: float


def class_names_for(num_classes: int) -> tuple[str, ...]:
    if num_classes not in (7, 8):
        raise ConfigError(f"AffectNet num_classes must be 7 (no contempt) or 8, got {num_classes}")
    return AFFECTNET_LABELS[:num_classes]


def find_image_dir(root: Path, first_file: str | None) -> Path:
    """The folder that ``subDirectory_filePath`` is relative to (the first candidate holding the first file)."""
    existing = [root / d for d in IMAGE_DIRS if (root / d).is_dir()]
    for d in existing:
        if first_file and (d / first_file).is_file():
            return d
    return existing[0]


def read_affectnet_manifest(
    csv_path: Path, image_dir: Path | None = None, *, num_classes: int = 8, log: ProblemLog | None = None
) -> list[AffectNetRow]:
    """Rows of one manifest with labels kept by the protocol; broken rows and missing images are problems."""
    log = log or ProblemLog(strict=True)
    class_names_for(num_classes)  # rejects a num_classes other than 7 or 8 before reading
    if not csv_path.is_file():
        raise DatasetError(f"AffectNet manifest not found: {csv_path} (expected training.csv and validation.csv in the root)")
    reader = manifest_rows(csv_path)
    missing_cols = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing_cols:
        raise DatasetError(f"{csv_path}: missing column(s) {missing_cols}; AffectNet manifests have {','.join(REQUIRED_COLUMNS)},...")
    raw = list(reader)
    image_dir = image_dir or find_image_dir(csv_path.parent, raw[0]["subDirectory_filePath"] if raw else None)
    rows: list[AffectNetRow] = []
    seen: set[str] = set()
    missing: list[str] = []
    for line_no, r in enumerate(raw, start=2):
        where = f"{csv_path} line {line_no}"
        try:
            code = int(r["expression"])
            box = tuple(int(float(r[k])) for k in ("face_x", "face_y", "face_width", "face_height"))
        except (TypeError, ValueError):
            log.add(f"{where}: expression and face box must be numbers")
            continue
        if not 0 <= code <= 10:
            log.add(f"{where}: unknown expression code {code} (AffectNet codes are 0..10)")
            continue
        if code >= num_classes:  # 8..10 always, 7 (contempt) in the 7-class protocol
            continue
        rel = r["subDirectory_filePath"]
        if rel in seen:
            log.add(f"{where}: duplicate id {rel!r}")
            continue
        seen.add(rel)
        path = image_dir / rel
        if not path.is_file():
            missing.append(str(path))
            continue
        rows.append(AffectNetRow(rel, path, code, box, _float(r.get("valence")), _float(r.get("arousal"))))  # type: ignore[arg-type]
    if missing:
        log.add(f"{len(missing)} image(s) listed in {csv_path} are missing, e.g. {', '.join(missing[:3])}")
    return rows


def _float(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else float("nan")
    except ValueError:
        return float("nan")


def crop_face(image: np.ndarray, box: tuple[int, int, int, int], mode: str, path: Path) -> np.ndarray:
    """Cut the face box out of a full image.

    ``auto`` crops only when the box lies inside the image and is smaller than it; pre-cropped
    copies (box outside the crop) are then used whole. ``box`` always crops (clipped to the image).
    """
    x, y, w, h = box
    height, width = image.shape[:2]
    inside = x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= width and y + h <= height
    if mode == "none" or (mode == "auto" and (not inside or (w == width and h == height))):
        return image
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if x1 <= x0 or y1 <= y0:
        raise ImageReadError(f"{path}: face box {box} lies outside the {width}x{height} image (use crop='none' for pre-cropped images)")
    return image[y0:y1, x0:x1]


def decode_faces(rows: list[AffectNetRow], size: tuple[int, int], crop: str) -> np.ndarray:
    import cv2

    out = np.empty((len(rows), *size), np.uint8)
    for i, row in enumerate(rows):
        face = crop_face(read_gray(row.path), row.box, crop, row.path)
        out[i] = cv2.resize(face, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return out


def load_affectnet(
    root: str | Path, split: str, *, num_classes: int = 8, crop: str = "auto", size: tuple[int, int] = (48, 48), use_cache: bool = True
) -> FaceDataset:
    """``train`` (training.csv) or ``test`` (validation.csv) as gray face crops; valence/arousal in ``extra`` ((N,) float32)."""
    if split not in MANIFESTS:
        raise DatasetError(f"unknown AffectNet split {split!r}; use train or test (the official validation set)")
    if crop not in CROP_MODES:
        raise ConfigError(f"crop must be one of {', '.join(CROP_MODES)}, got {crop!r}")
    root = require_dir(root, "AffectNet root")
    rows = read_affectnet_manifest(root / MANIFESTS[split], num_classes=num_classes)
    if not rows:
        raise DatasetError(f"{root / MANIFESTS[split]}: no rows with expression 0..{num_classes - 1}")
    paths = [r.path for r in rows]
    key = f"affectnet-{split}-{num_classes}-" + fingerprint(paths, extra=f"affectnet-v1-{crop}-{size}")
    arrays = cached_arrays(key, lambda: {"images": decode_faces(rows, size, crop)}, enabled=use_cache)
    extra = {
        "valence": np.asarray([r.valence for r in rows], np.float32),
        "arousal": np.asarray([r.arousal for r in rows], np.float32),
    }
    labels = np.asarray([r.label for r in rows], np.int64)
    return FaceDataset(arrays["images"], labels, class_names_for(num_classes), tuple(r.id for r in rows), None, f"affectnet{num_classes}/{split}", extra)


def affectnet_counts(root: str | Path, log: ProblemLog) -> dict[str, dict[str, int]]:
    """Per-split counts of the 8 emotion classes from the manifests (no decoding)."""
    root = require_dir(root, "AffectNet root")
    counts = {}
    for split, name in MANIFESTS.items():
        rows = read_affectnet_manifest(root / name, num_classes=8, log=log)
        counts[split] = {c: 0 for c in AFFECTNET_LABELS}
        for r in rows:
            counts[split][AFFECTNET_LABELS[r.label]] += 1
    return counts


def looks_like_affectnet(path: Path) -> bool:
    """An AffectNet manifest, or a folder holding one (``training.csv`` / ``validation.csv``)."""
    if path.is_file():
        return path.suffix.lower() == ".csv" and "subDirectory_filePath" in csv_header(path)
    return path.is_dir() and any(p.name.lower() in MANIFESTS.values() for p in path.iterdir())


@register_dataset(
    "affectnet", ("8class", "7class"),
    layout="training.csv + validation.csv (subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal) "
           "+ Manually_Annotated_Images/<subDirectory_filePath>",
    spec="affectnet:/data/AffectNet",
    notes="test = official validation set; val = stratified 5% of training; crops by the face box unless images are pre-cropped",
    counter=affectnet_counts, detect=looks_like_affectnet,
)
def _affectnet_splits(path: Path, protocol: str, seed: int) -> list[ExperimentSplit]:
    """Official validation set = test; validation = a stratified, seeded 5% of training (~14k images)."""
    num_classes = int(protocol.removesuffix("class"))
    train = load_affectnet(path, "train", num_classes=num_classes)
    test = load_affectnet(path, "test", num_classes=num_classes)
    return [holdout_experiment(f"affectnet{num_classes}", train, test, 0.05, seed)]
