"""Any ``<root>/<class>/*`` tree of face crops, resized to a common size."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferkit.data.dataset import FaceDataset
from ferkit.data.folders import decode_images, require_dir, scan_class_folders
from ferkit.labels import CANONICAL_LABELS


def load_image_folder(root: str | Path, *, size: tuple[int, int] = (48, 48), require_size: bool = False) -> FaceDataset:
    """Load every image under ``root/<class>/``; class folders may use any known alias (angry, happy...).

    Classes are ordered as in the canonical vocabulary. With ``require_size`` an image of another
    size is an error instead of being resized.
    """
    root = require_dir(root, "image folder root")
    by_class = scan_class_folders(root)
    class_names = tuple(n for n in CANONICAL_LABELS if n in by_class)
    paths: list[Path] = []
    labels: list[int] = []
    for idx, name in enumerate(class_names):
        paths += by_class[name]
        labels += [idx] * len(by_class[name])
    images = decode_images(paths, size, require_size=require_size, desc=f"decoding {root.name}")
    ids = tuple(f"{p.parent.name}/{p.name}" for p in paths)
    return FaceDataset(images, np.asarray(labels, np.int64), class_names, ids, None, f"imagefolder:{root.name}")
