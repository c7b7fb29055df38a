"""Exceptions raised at ferkit's boundaries: each names the file or argument and the fix."""

from __future__ import annotations


class FerkitError(Exception):
    """Base class of every error ferkit raises on purpose."""


class DatasetError(FerkitError):
    """A dataset root, manifest or split is missing or malformed."""


class ImageReadError(FerkitError):
    """A file could not be decoded as an image, or has the wrong size/channels."""


class LabelError(FerkitError):
    """A class name or label index is unknown or does not match the model's label set."""


class ConfigError(FerkitError):
    """A recipe, option or argument has an invalid value."""


class OutputError(FerkitError):
    """An output file or folder cannot be written where it was asked for (a folder in a file's place, no permission)."""


class CheckpointError(FerkitError):
    """A checkpoint is missing, unreadable, or does not fit the data it is used with."""


class NoFaceError(FerkitError):
    """No face was found where one was required."""


class WeightsUnavailableError(FerkitError):
    """Pretrained weights were requested but are not on disk (ferkit never downloads at run time)."""


class VideoError(FerkitError):
    """A video file or camera could not be opened or decoded."""


class TrainingDivergedError(FerkitError):
    """The training loss became NaN or infinite; the last good checkpoint (last.pt) is kept."""


class FerkitWarning(UserWarning):
    """Something ferkit did that the user should know of, though the run goes on (the CLI prints it as one line)."""
