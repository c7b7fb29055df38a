"""FER2013 Training + PublicTest in one file, for a machine that has the code but not the dataset.

A lent GPU machine receives the working tree and at most 64 MiB in all; the ImageFolder re-pack is
51 MB of JPEG files for these two splits alone. A pack holds, per split, the encoded JPEG bytes of
every image concatenated and xz-compressed, their offsets, labels and ids (``.npz``, no pickles).
PublicTest keeps the original bytes (the pixels the checkpoint is selected on are those used here);
Training may be re-encoded at a lower JPEG quality to fit (``train_quality``; the encoding is
recorded in the pack). A pack never holds PrivateTest: the test split is scored where the dataset
lives, once.

Format ``ferkit-fer2013-pack-v1``.
"""

from __future__ import annotations

import lzma
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.data.cache import cached_arrays, fingerprint
from ferkit.data.dataset import FaceDataset
from ferkit.errors import DatasetError
from ferkit.io_utils import atomic_write
from ferkit.labels import FER2013_LABELS

PACK_FORMAT = "ferkit-fer2013-pack-v1"
PACK_SPLITS = ("Training", "PublicTest")  # never PrivateTest


def encode_gray_jpeg(image: np.ndarray, quality: int) -> bytes:
    """(H, W) uint8 -> JPEG bytes at ``quality`` (1..100), Huffman tables optimised."""
    import cv2

    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:
        raise DatasetError(f"OpenCV could not encode a {image.shape} image as JPEG")
    return data.tobytes()


def _split_arrays(split: str, encoded: list[bytes], labels: list[int] | np.ndarray, ids: list[str] | tuple[str, ...], encoding: str) -> dict[str, np.ndarray]:
    """One split's entries: xz blobs keep the 32k small files (and their ids) compact without pickles."""
    offsets = np.zeros(len(encoded) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in encoded])
    return {
        f"{split}__jpeg_xz": np.frombuffer(lzma.compress(b"".join(encoded), preset=6), np.uint8),
        f"{split}__offsets": offsets,
        f"{split}__labels": np.asarray(labels, np.int8),
        f"{split}__ids_xz": np.frombuffer(lzma.compress("\n".join(ids).encode()), np.uint8),
        f"{split}__encoding": np.array(encoding),
    }


def write_pack(out: str | Path, splits: dict[str, tuple[list[bytes], Any, Any, str]]) -> Path:
    """Write ``{split: (encoded images, labels, ids, encoding)}`` for Training and/or PublicTest atomically."""
    bad = sorted(set(splits) - set(PACK_SPLITS))
    if bad:
        raise DatasetError(f"a FER2013 pack holds only {', '.join(PACK_SPLITS)}, not {bad}: the test split is scored where the dataset lives")
    arrays: dict[str, np.ndarray] = {"format": np.array(PACK_FORMAT), "splits": np.array(sorted(splits))}
    for split, (encoded, labels, ids, encoding) in splits.items():
        if not (len(encoded) == len(labels) == len(ids)) or not encoded:
            raise DatasetError(f"{split}: need the same, non-zero number of images, labels and ids")
        arrays.update(_split_arrays(split, encoded, labels, ids, encoding))

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    return atomic_write(out, save)


def pack_folder(root: str | Path, out: str | Path, *, train_quality: int | None = 90, limits: dict[str, int] | None = None, seed: int = 0) -> Path:
    """Pack the ImageFolder re-pack's Training and PublicTest splits.

    ``train_quality`` None keeps Training's original bytes; a number re-encodes Training at that
    JPEG quality (the originals are ~q95). ``limits`` {split: n} keeps a seeded random subset.
    """
    from ferkit.data.fer2013 import fer2013_folder_files
    from ferkit.data.image_io import read_gray

    if train_quality is not None and not 1 <= train_quality <= 100:
        raise DatasetError(f"train_quality must be 1..100 or None (original bytes), got {train_quality}")
    splits = {}
    for split in PACK_SPLITS:
        paths, labels = fer2013_folder_files(Path(root).expanduser(), split)
        keep = _subset_indices(len(paths), (limits or {}).get(split), seed)
        paths, labels = [paths[i] for i in keep], [labels[i] for i in keep]
        if split == "Training" and train_quality is not None:
            encoded = [encode_gray_jpeg(read_gray(p, (48, 48), require_size=True), train_quality) for p in paths]
            encoding = f"jpeg-q{train_quality}"
        else:
            encoded, encoding = [p.read_bytes() for p in paths], "original"
        splits[split] = (encoded, labels, [f"{p.parent.name}/{p.stem}" for p in paths], encoding)
    return write_pack(out, splits)


def _subset_indices(n: int, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def read_encoded(path: str | Path, split: str) -> tuple[list[bytes], np.ndarray, tuple[str, ...], str]:
    """One split's (encoded images, labels, ids, encoding) from a pack, checked."""
    path = Path(path).expanduser()
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read FER2013 pack {path}: {exc}") from None
    with z:
        if "format" not in z.files or str(z["format"]) != PACK_FORMAT:
            raise DatasetError(f"{path} is not a FER2013 pack (expected format {PACK_FORMAT}; write one with benchmarks/pack_fer2013.py)")
        held = [str(s) for s in z["splits"]]
        if split not in held:
            why = " (a pack never holds the test split: score it where the dataset lives)" if split == "PrivateTest" else ""
            raise DatasetError(f"FER2013 pack {path} holds {', '.join(held)}, not {split}{why}")
        blob = lzma.decompress(z[f"{split}__jpeg_xz"].tobytes())
        offsets = z[f"{split}__offsets"]
        labels = z[f"{split}__labels"].astype(np.int64)
        ids = tuple(lzma.decompress(z[f"{split}__ids_xz"].tobytes()).decode().split("\n"))
        encoding = str(z[f"{split}__encoding"])
    if offsets[-1] != len(blob) or len(offsets) != len(labels) + 1 or len(ids) != len(labels):
        raise DatasetError(f"FER2013 pack {path}: {split} is inconsistent (offsets, labels and ids disagree); write it again")
    return [blob[a:b] for a, b in zip(offsets[:-1], offsets[1:])], labels, ids, encoding


def pack_splits(path: str | Path) -> tuple[str, ...]:
    """The splits a pack holds (without decoding anything)."""
    with np.load(Path(path).expanduser(), allow_pickle=False) as z:
        return tuple(str(s) for s in z["splits"]) if "splits" in z.files else ()


def is_fer2013_pack(path: str | Path) -> bool:
    return Path(path).suffix == ".npz" and Path(path).is_file()


def load_fer2013_pack(path: str | Path, split: str, *, use_cache: bool = True) -> FaceDataset:
    """One split of a pack as a FaceDataset, decoded as the folder loader decodes files (OpenCV)."""
    path = Path(path).expanduser()
    key = f"fer2013pack-{split}-" + fingerprint([path.resolve()], extra=PACK_FORMAT)
    arrays = cached_arrays(key, lambda: _decode_split(path, split), enabled=use_cache)
    ids = tuple(str(i) for i in arrays["ids"])
    return FaceDataset(arrays["images"], arrays["labels"].astype(np.int64), FER2013_LABELS, ids, None, f"fer2013/{split}")


def _decode_split(path: Path, split: str) -> dict[str, np.ndarray]:
    import cv2

    encoded, labels, ids, _ = read_encoded(path, split)
    if labels.min(initial=0) < 0 or labels.max(initial=0) >= len(FER2013_LABELS):
        raise DatasetError(f"FER2013 pack {path}: {split} labels must lie in 0..{len(FER2013_LABELS) - 1}")
    images = np.empty((len(encoded), 48, 48), np.uint8)
    for i, data in enumerate(encoded):
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if image is None or image.shape != (48, 48):
            raise DatasetError(f"FER2013 pack {path}: image {ids[i]} of {split} is not a decodable 48x48 image; write the pack again")
        images[i] = image
    return {"images": images, "labels": labels, "ids": np.array(ids)}


def subset_pack(src: str | Path, out: str | Path, limits: dict[str, int], *, seed: int = 0) -> Path:
    """A smaller pack with a seeded random ``limits[split]`` images per split (dry runs, tests)."""
    splits = {}
    for split in pack_splits(src):
        encoded, labels, ids, encoding = read_encoded(src, split)
        keep = _subset_indices(len(encoded), limits.get(split), seed)
        splits[split] = ([encoded[i] for i in keep], labels[keep], [ids[i] for i in keep], encoding)
    return write_pack(out, splits)


def pack_info(path: str | Path) -> dict[str, Any]:
    """Size, splits, image counts and encodings of a pack (for result files and the sprint summary)."""
    path = Path(path).expanduser()
    info: dict[str, Any] = {"path": str(path), "bytes": path.stat().st_size, "format": PACK_FORMAT, "splits": {}}
    for split in pack_splits(path):
        encoded, labels, _, encoding = read_encoded(path, split)
        info["splits"][split] = {"images": len(encoded), "encoding": encoding, "jpeg_bytes": sum(len(b) for b in encoded),
                                 "class_counts": np.bincount(labels, minlength=len(FER2013_LABELS)).tolist()}
    return info
