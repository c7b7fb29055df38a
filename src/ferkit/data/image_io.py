"""Reading single images with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferkit.constants import IMAGE_SUFFIXES
from ferkit.errors import ImageReadError
from ferkit.io_utils import opencv_path


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def can_decode_image(path: Path) -> bool:
    """True when OpenCV has a reader for this file's content (its signature, not its suffix): every file a
    single-image run can read, .gif included; used to expand folders so they take the same files."""
    import cv2

    try:
        name = opencv_path(path, "image", ImageReadError)
    except ImageReadError:  # OpenCV crashes on a name that is not UTF-8: decode the bytes (rare, so a full decode is affordable)
        try:
            return cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED) is not None
        except (OSError, cv2.error):
            return False
    try:
        return bool(cv2.haveImageReader(name))
    except cv2.error:
        return False


def decode_file(path: str | Path, flags: int) -> np.ndarray:
    """Decode an image file with OpenCV ``flags``; a missing, undecodable or oversized file (OpenCV refuses headers
    claiming more than CV_IO_MAX_IMAGE_PIXELS) is an ImageReadError naming it."""
    import cv2

    path = Path(path)
    if path.is_dir():
        raise ImageReadError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise ImageReadError(f"image file not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)
    try:
        image = cv2.imdecode(data, flags) if data.size else None
    except cv2.error as exc:
        raise ImageReadError(f"cannot decode {path} as an image: OpenCV refused it (failed check {exc.err!r}); "
                             f"the file is corrupt or claims a size too large to decode") from None
    if image is None:
        raise ImageReadError(f"cannot decode {path} as an image (corrupt file or not an image)")
    return image


def read_gray(path: str | Path, size: tuple[int, int] | None = None, *, require_size: bool = False) -> np.ndarray:
    """Decode ``path`` to a (H, W) uint8 grayscale array.

    With ``size`` (H, W) the image is resized to it, unless ``require_size`` is set, in which case an
    image of another size raises ImageReadError (used where a dataset promises a fixed size).
    """
    import cv2

    path = Path(path)
    image = decode_file(path, cv2.IMREAD_UNCHANGED)
    if image.ndim == 3:
        if image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
        elif image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        else:
            raise ImageReadError(f"{path}: unsupported channel count {image.shape[2]} (expected 1, 3 or 4)")
    if image.dtype == np.uint16:  # the top 8 bits, as OpenCV and the Recognizer read 16-bit photos (a per-image
        image = (image >> 8).astype(np.uint8)  # min-max stretch before gave 16-bit copies other pixels than 8-bit ones)
    elif image.dtype != np.uint8:
        raise ImageReadError(f"{path}: {image.dtype} pixels have no fixed range to map to 8 bits; save the image as 8- or 16-bit")
    if size is not None and image.shape[:2] != tuple(size):
        if require_size:
            raise ImageReadError(f"{path}: expected a {size[0]}x{size[1]} image, got {image.shape[0]}x{image.shape[1]}")
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)
