"""A picture of every occluder kind on a few faces, for the docs (docs/images/occluders.png)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ferkit.constants import IMAGE_SUFFIXES
from ferkit.errors import ConfigError
from ferkit.io_utils import atomic_write_png
from ferkit.occlusion.occluders import OCCLUDER_KINDS
from ferkit.occlusion.placement import NATURAL, apply_occlusion


def save_occluder_gallery(
    out_path: str | os.PathLike,
    *,
    face_dir: str | os.PathLike | None = None,
    faces: int = 4,
    size: int = 96,
    seed: int = 0,
) -> Path:
    """Write a PNG grid: one row per occluder kind at its natural place, one column per face.

    Faces are read from ``face_dir`` (e.g. a CK+48 root; one image from each of the first class
    folders) when it exists, else a synthetic face is drawn. Faces are upscaled to ``size`` px so
    the occluders' detail shows; the last column is grayscale, as the models see it.
    """
    from ferkit.checks import check_count

    check_count("faces", faces, least=1)
    check_count("size", size, least=16)
    if Path(out_path).suffix.lower() != ".png":
        raise ConfigError(f"the gallery is written as PNG; give a .png file name, got {out_path}")
    crops = _load_faces(Path(face_dir), faces) if face_dir is not None and Path(face_dir).is_dir() else []
    if not crops:
        crops = [synthetic_face(48, shade=s) for s in np.linspace(0.55, 0.8, faces)]
    crops = [cv2.resize(c, (size, size), interpolation=cv2.INTER_CUBIC) for c in crops[:faces]]
    rng = np.random.default_rng(seed)
    rows = []
    for kind in OCCLUDER_KINDS:
        cells = []
        for j, face in enumerate(crops):
            colour = j < len(crops) - 1 or len(crops) == 1
            base = np.repeat(face[..., None], 3, axis=2) if colour else face
            result = apply_occlusion(base, kind=kind, region=NATURAL, rng=rng)
            cells.append(result.image if colour else np.repeat(result.image[..., None], 3, axis=2))
        rows.append(cells)
    return _write_grid(Path(out_path), rows, list(OCCLUDER_KINDS), size)


def _load_faces(root: Path, count: int) -> list[np.ndarray]:
    files = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(f for f in sub.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            files.append(images[len(images) // 2])
        if len(files) == count:
            break
    crops = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]
    return [c for c in crops if c is not None]


def synthetic_face(size: int = 48, *, shade: float = 0.7) -> np.ndarray:
    """A plain drawn face (H, W) uint8 with eyes, nose and mouth at the canonical aligned positions."""
    from ferkit.checks import check_count

    check_count("size", size, least=8)
    s = 8  # draw large, then shrink for smooth edges
    big = size * s
    img = np.full((big, big), 40, np.uint8)
    cv2.ellipse(img, (big // 2, int(big * 0.52)), (int(big * 0.4), int(big * 0.5)), 0, 0, 360, int(255 * shade), -1, cv2.LINE_AA)
    dark = int(255 * shade * 0.35)
    for x in (0.31, 0.69):
        cv2.ellipse(img, (int(big * x), int(big * 0.39)), (int(big * 0.08), int(big * 0.035)), 0, 0, 360, dark, -1, cv2.LINE_AA)
        cv2.line(img, (int(big * (x - 0.09)), int(big * 0.31)), (int(big * (x + 0.09)), int(big * 0.30)), dark, big // 60, cv2.LINE_AA)
    cv2.line(img, (big // 2, int(big * 0.45)), (int(big * 0.47), int(big * 0.6)), int(255 * shade * 0.75), big // 80, cv2.LINE_AA)
    cv2.ellipse(img, (big // 2, int(big * 0.76)), (int(big * 0.14), int(big * 0.04)), 0, 0, 180, dark, big // 40, cv2.LINE_AA)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _write_grid(out_path: Path, rows: list[list[np.ndarray]], labels: list[str], size: int) -> Path:
    """Tile RGB cells with a label column on the left; written atomically."""
    label_w, pad = 130, 4
    height = len(rows) * (size + pad) + pad
    width = label_w + len(rows[0]) * (size + pad) + pad
    canvas = np.full((height, width, 3), 255, np.uint8)
    for r, (cells, label) in enumerate(zip(rows, labels)):
        y = pad + r * (size + pad)
        cv2.putText(canvas, label.replace("_", " "), (6, y + size // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        for c, cell in enumerate(cells):
            x = label_w + pad + c * (size + pad)
            canvas[y : y + size, x : x + size] = cell
    bgr = canvas[..., ::-1]

    return atomic_write_png(out_path, np.ascontiguousarray(bgr))
