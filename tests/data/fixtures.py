"""Writers of tiny datasets in each layout ferkit reads, for tests (all under a tmp_path)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FER_FOLDERS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
import os

# ../shared/data beside the repository (CI clones the project next to it); override with FERKIT_SHARED_DATA.
SHARED_DATA = Path(os.environ.get("FERKIT_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def class_pattern(label: int, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """A learnable image per class: a bright bar whose position depends on the label, plus noise."""
    image = rng.integers(0, 60, (size, size)).astype(np.uint8)
    band = size // 8
    row = (label * band) % (size - band)
    image[row : row + band, :] = 220
    return image


def write_fer2013_folder(root: Path, per_class: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    counter = 0
    for usage, sub in (("Training", "train"), ("PublicTest", "test"), ("PrivateTest", "test")):
        for label, folder in enumerate(FER_FOLDERS):
            d = root / sub / folder
            d.mkdir(parents=True, exist_ok=True)
            for _ in range(per_class):
                cv2.imwrite(str(d / f"{usage}_{counter}.jpg"), class_pattern(label, rng), [cv2.IMWRITE_JPEG_QUALITY, 100])
                counter += 1
    return root


def write_fer2013_csv(path: Path, per_class: int = 2, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = ["emotion,pixels,Usage"]
    for usage in ("Training", "PublicTest", "PrivateTest"):
        for label in range(7):
            for _ in range(per_class):
                lines.append(f"{label},{' '.join(map(str, class_pattern(label, rng).ravel()))},{usage}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_ckplus(root: Path, subjects: int = 12, seed: int = 0) -> Path:
    """CK+-style tree: each subject has one 3-frame sequence in each of a few classes."""
    rng = np.random.default_rng(seed)
    classes = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
    for s in range(subjects):
        for c, name in enumerate(classes):
            if (s + c) % 2:
                continue
            d = root / name
            d.mkdir(parents=True, exist_ok=True)
            for frame in range(3):
                cv2.imwrite(str(d / f"S{100 + s:03d}_{c + 1:03d}_{frame + 10:08d}.png"), class_pattern(c, rng))
    return root
