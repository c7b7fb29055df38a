"""Uploaded bytes -> a BGR image, with the checks a server needs before it trusts them.

Only bytes are accepted, never a path: nothing a client sends names a file on the server.
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

import numpy as np

from ferkit.data.image_io import checked_header
from ferkit.serve.errors import PayloadTooLarge, UndecodableImage, UnsupportedMediaType

# what a browser or client may declare for an image; the bytes are still decoded and checked
GENERIC_TYPES = ("application/octet-stream",)

# Pillow's names of the formats OpenCV decodes too, as the answers name them: what is accepted, and the one list the
# 415 and 422 messages give (a file of another format Pillow knows is named, not called corrupt). GIF: the first frame.
OPENCV_FORMATS: dict[str, str] = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP", "DIB": "BMP", "TIFF": "TIFF",
                                  "GIF": "GIF", "PPM": "PPM/PGM/PBM", "JPEG2000": "JPEG 2000", "SUN": "Sun raster", "PFM": "PFM"}
_NAMES = list(dict.fromkeys(OPENCV_FORMATS.values()))
ACCEPTED_FORMATS = ", ".join(_NAMES[:-1]) + " or " + _NAMES[-1]


def media_type(content_type: str | None) -> str:
    """``"image/jpeg; charset=x"`` -> ``"image/jpeg"``; None -> ``""``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_image_type(content_type: str | None, what: str, *, part: bool = False) -> None:
    """Raise 415 unless ``content_type`` declares an image or generic bytes. A multipart ``part`` may have no type at
    all: ``requests.post(url, files={"file": open(path, "rb")})`` sends none, and the bytes are checked anyway. A raw
    body must say what it is (curl's ``--data-binary`` without ``-H`` says form data)."""
    kind = media_type(content_type)
    if not (kind.startswith("image/") or kind in GENERIC_TYPES or (part and not kind)):
        shown = repr(kind) if kind else "no content type"
        raise UnsupportedMediaType(f"{what} has {shown}; send an image ({ACCEPTED_FORMATS}) as a multipart file field "
                                   "or as the raw request body with its image content type (-H 'Content-Type: image/jpeg')")


def client_name(filename: str | None, fallback: str) -> str:
    """A label for the upload: the last component of the client's file name (never used to open anything)."""
    if not filename:
        return fallback
    name = PureWindowsPath(PurePosixPath(filename).name).name.strip()
    return name[:200] or fallback


def decode_image(data: bytes, *, name: str, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Encoded image bytes -> (H, W, 3) BGR uint8; EXIF orientation applied, as a browser shows it.

    The size in pixels is read from the header first (Pillow), so that a small file which would decode to a huge
    image is refused without decoding it; a file whose size cannot be read that way (not an image, corrupt, or a
    format such as Radiance HDR that only OpenCV reads) is refused before OpenCV decodes anything.
    """
    import cv2

    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{name} is {len(data)} bytes; the limit is {max_bytes} bytes per image")
    if not data:
        raise UndecodableImage(f"{name} is empty; send the image's bytes")
    header = checked_header(data, name, max_pixels, error=PayloadTooLarge)
    if not header.pixels:
        raise UndecodableImage(f"cannot decode {name} as an image: corrupt or truncated, not an image, or not in a format "
                               f"whose size can be checked before decoding ({ACCEPTED_FORMATS})")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        if header.format is not None and header.format not in OPENCV_FORMATS:
            raise UndecodableImage(f"{name} is a {header.format} image, which ferkit does not read; send {ACCEPTED_FORMATS}")
        raise UndecodableImage(f"cannot decode {name} as an image (corrupt or truncated {header.format or 'image'} file)")
    return image
