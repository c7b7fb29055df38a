"""Errors a request can cause, each with the HTTP status it is answered with (as JSON, never a traceback)."""

from __future__ import annotations

from ferkit.errors import FerkitError, ImageReadError


class RequestError(FerkitError):
    """Base of the errors answered with ``status``; ``code`` is a stable machine-readable name."""

    status = 400
    code = "bad_request"


class PayloadTooLarge(RequestError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(RequestError):
    status = 415
    code = "unsupported_media_type"


class UndecodableImage(RequestError, ImageReadError):
    status = 422
    code = "undecodable_image"


class MissingUpload(RequestError):
    status = 422
    code = "missing_upload"


class ServerBusy(RequestError):
    status = 503
    code = "server_busy"


class RequestTimeout(RequestError):
    status = 504
    code = "timeout"


class InvalidParameters(RequestError):
    status = 422
    code = "invalid_parameters"
