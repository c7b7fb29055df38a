"""Reading single images with errors that name the file."""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.constants import DEFAULT_MAX_IMAGE_PIXELS, IMAGE_SUFFIXES
from ferkit.errors import ConfigError, FerkitError, FerkitWarning, ImageReadError
from ferkit.io_utils import opencv_path

MAX_PIXELS_VARIABLE = "FERKIT_MAX_IMAGE_PIXELS"


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


def max_image_pixels() -> int:
    """The pixel limit of image files: ``$FERKIT_MAX_IMAGE_PIXELS`` when set, else ``DEFAULT_MAX_IMAGE_PIXELS``.
    Read at each call, so a Python program may change it between reads."""
    text = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ConfigError(f"{MAX_PIXELS_VARIABLE} must be a whole number of pixels >= 1 (e.g. 100000000), got {text!r}")
    return limit


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says, read without decoding pixels. ``format``: Pillow's name (None when unknown);
    ``size``: (width, height), None where only the pixel count is known; ``pixels``: 0 when Pillow cannot size the
    image (not an image, corrupt, or a format only OpenCV reads); ``animated``: more than one frame."""

    format: str | None
    size: tuple[int, int] | None
    pixels: int
    animated: bool = False

    def describe(self) -> str:
        return f"{self.size[0]}x{self.size[1]} pixels" if self.size else f"{self.pixels} pixels"


def read_header(source: bytes | Path) -> ImageHeader:
    """The header of encoded bytes or of a file (Pillow reads only the header, whatever the claimed size)."""
    from PIL import Image

    try:
        # Pillow's own warning above 89 Mpx is silenced: the caller's limit decides, and says so. catch_warnings swaps
        # the process-wide filters, so threads reading at once (bulk workers) may leave this one filter in place: harmless.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source) as image:
                return ImageHeader(image.format, image.size, image.width * image.height, _is_animated(image))
    except Image.DecompressionBombError as exc:  # over twice Pillow's limit: it says how many pixels, not the size
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        return ImageHeader(None, None, int(pixels.group(1)) if pixels else 2 * int(Image.MAX_IMAGE_PIXELS or 0) + 1)
    except Exception:  # noqa: BLE001 - not an image Pillow can size
        return ImageHeader(None, None, 0)


def _is_animated(image: Any) -> bool:
    try:
        return bool(getattr(image, "is_animated", False))
    except Exception:  # noqa: BLE001 - a damaged later frame: the first one is still what is read
        return False


def checked_header(source: bytes | Path, name: str, max_pixels: int, *, error: type[FerkitError] = ImageReadError,
                   fix: str = "") -> ImageHeader:
    """``read_header``, refused with ``error`` when it claims more than ``max_pixels`` pixels: a small file that would
    decode to a huge image is stopped before it is decoded. ``fix`` ends the message (how to raise the limit).
    The one size check of image files (``decode_file``) and of uploads (``ferkit.serve.images``)."""
    header = read_header(source)
    if header.pixels > max_pixels:
        raise error(f"{name} is {header.describe()}; the limit is {max_pixels} pixels per image{fix}")
    return header


def decode_file(path: str | Path, flags: int) -> np.ndarray:
    """Decode an image file with OpenCV ``flags``; a missing or undecodable file, or one whose header claims more than
    ``max_image_pixels()`` pixels (checked before decoding), is an ImageReadError naming it. An animated image
    (GIF, APNG, WebP) gives its first frame, and a FerkitWarning says so."""
    import cv2

    path = Path(path)
    if path.is_dir():
        raise ImageReadError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise ImageReadError(f"image file not found: {path}")
    header = checked_header(path, str(path), max_image_pixels(), fix=f" (set {MAX_PIXELS_VARIABLE} to raise it)")
    if header.animated:
        warnings.warn(f"{path} has several frames (animated); only its first is read: convert it to a video "
                      f"(e.g. ffmpeg -i {path.name} {path.stem}.mp4) to classify every frame", FerkitWarning, stacklevel=2)
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
