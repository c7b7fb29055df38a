"""Uploaded bytes -> a BGR image, with the checks a server needs before it trusts them.

Only bytes are accepted, never a path: nothing a client sends names a file on the server.
"""

from __future__ import annotations

import io
from pathlib import PurePosixPath, PureWindowsPath

import numpy as np

from ferkit.serve.errors import PayloadTooLarge, UndecodableImage, UnsupportedMediaType

# what a browser or client may declare for an image; the bytes are still decoded and checked
GENERIC_TYPES = ("application/octet-stream",)
EXAMPLE_TYPES = "image/jpeg, image/png, image/webp, image/bmp or image/tiff"


def media_type(content_type: str | None) -> str:
    """``"image/jpeg; charset=x"`` -> ``"image/jpeg"``; None -> ``""``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_image_type(content_type: str | None, what: str) -> None:
    """Raise 415 unless ``content_type`` declares an image (or generic bytes)."""
    kind = media_type(content_type)
    if not (kind.startswith("image/") or kind in GENERIC_TYPES):
        shown = repr(kind) if kind else "no content type"
        raise UnsupportedMediaType(f"{what} has {shown}; send an image ({EXAMPLE_TYPES}) as a multipart file field "
                                   "or as the raw request body with its image content type")


def client_name(filename: str | None, fallback: str) -> str:
    """A label for the upload: the last component of the client's file name (never used to open anything)."""
    if not filename:
        return fallback
    name = PureWindowsPath(PurePosixPath(filename).name).name.strip()
    return name[:200] or fallback


def decode_image(data: bytes, *, name: str, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Encoded image bytes -> (H, W, 3) BGR uint8; EXIF orientation applied, as a browser shows it.

    The size in pixels is read from the header first, so that a small file which would decode to a
    huge image is refused without decoding it.
    """
    import cv2

    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{name} is {len(data)} bytes; the limit is {max_bytes} bytes per image")
    if not data:
        raise UndecodableImage(f"{name} is empty; send the image's bytes")
    width, height = _header_size(data)
    if width * height > max_pixels:
        raise PayloadTooLarge(f"{name} is {width}x{height} pixels; the limit is {max_pixels} pixels per image")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise UndecodableImage(f"cannot decode {name} as an image (corrupt or truncated file, or not an image)")
    if image.shape[0] * image.shape[1] > max_pixels:  # a format Pillow could not size
        raise PayloadTooLarge(f"{name} is {image.shape[1]}x{image.shape[0]} pixels; the limit is {max_pixels} pixels per image")
    return image


def _header_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the image header without decoding pixels; (0, 0) when Pillow cannot tell."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"image refused: {exc}") from None
    except Exception:  # noqa: BLE001 - not a format Pillow knows: OpenCV decides below
        return 0, 0
