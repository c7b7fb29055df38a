"""What ``ferkit predict --resume`` checks before it keeps a row: that the outputs were written with this run's
settings, and that they hold only this run's inputs.

JSONL and CSV rows name neither the model nor the detector, and a record inside the file (a first line, a comment
row) would break the readers of those formats. So each streamed output ``FILE`` gets a run record ``FILE.run.json``
beside it, written (atomically) when the output is started and again when it is resumed. An output without one
(written by an older ferkit, or copied without it) is resumed as before, with a warning that its settings could not
be checked. Special files (``/dev/null``, a FIFO) and standard output get no record: they cannot be resumed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator

from ferkit.errors import ConfigError, FerkitWarning
from ferkit.io_utils import atomic_write_json, is_special_file, printable_path

RECORD_FORMAT = "ferkit-predict-run"
RECORD_VERSION = 1
RECORD_SUFFIX = ".run.json"
SHOWN = 3  # inputs named in a refusal; the count says how many more


def file_sha256(path: str | os.PathLike) -> str:
    """The file's content digest: a model is the same model wherever it was copied, and another one at the same path is not."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_settings(recognizer: Any, *, every_n: int, max_frames: int | None, video_options: dict[str, Any]) -> dict[str, Any]:
    """What decides a run's rows, as JSON values: the model (by content), its classes, the detector and its options
    (largest-only among them), alignment, TTA and video sampling. Left out: backend and device (they change
    probabilities by rounding only), workers, batch size and read-ahead (they change nothing)."""
    settings = {
        "model_sha256": file_sha256(recognizer.loaded.path),
        "class_names": list(recognizer.class_names),
        "detector": getattr(recognizer.detector, "name", None) or recognizer.detector_spec[0],  # "auto" as resolved
        "detector_options": recognizer.detector_spec[1],
        "alignment": recognizer.alignment,
        "tta": recognizer.tta,
        "every_n": every_n,
        "max_frames": max_frames,
        "video_options": {key: value for key, value in video_options.items() if key != "read_ahead"},
    }
    return json.loads(json.dumps(settings, default=str))  # tuples as lists: as a record read back compares


def record_path(output: str) -> Path:
    return Path(output + RECORD_SUFFIX)


def write_record(output: str, model: str, settings: dict[str, Any]) -> None:
    """Record ``settings`` beside the streamed ``output`` (a regular file), for a later --resume to compare."""
    if output == "-" or is_special_file(output):
        return
    record = {"format": RECORD_FORMAT, "version": RECORD_VERSION, "output": printable_path(os.path.basename(output)),
              "model": printable_path(model), "settings": settings}
    atomic_write_json(record_path(output), record)


def read_record(output: str) -> dict[str, Any] | None:
    """The run record of ``output``, or None when it has none; a record that is not one is refused, naming the file."""
    path = record_path(output)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--resume: cannot read the run record {path} ({exc}); remove it to resume {output} unchecked") from None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT or not isinstance(record.get("settings"), dict):
        raise ConfigError(f"--resume: {path} is not a ferkit predict run record; remove it to resume {output} unchecked")
    return record


def check_record(output: str, settings: dict[str, Any]) -> None:
    """Refuse to resume ``output`` when its record names other settings; warn when it has no record."""
    record = read_record(output)
    if record is None:
        warnings.warn(f"{output} has no run record ({record_path(output)}, written since ferkit kept one): resuming "
                      "it without checking that its rows came from this model, detector and TTA", FerkitWarning, stacklevel=2)
        return
    recorded = record["settings"]
    differ = [key for key in dict.fromkeys([*recorded, *settings]) if recorded.get(key) != settings.get(key)]
    if not differ:
        return
    shown = [f"another model ({record.get('model', '?')})" if key == "model_sha256" else
             f"{key} {json.dumps(recorded.get(key))} (now {json.dumps(settings.get(key))})" for key in differ]
    raise ConfigError(f"--resume: {output} was written with {'; '.join(shown)}; resume with the settings that wrote it "
                      "(--model, --detector, --detector-option, --alignment, --largest-only, --tta, --every-n, --max-frames, "
                      "video options), or write to another file")


def inputs_to_predict(inputs: Iterable[Any], held: list[str], done: set[str], output: str) -> tuple[Iterator[Any], int]:
    """This run's ``inputs`` less those ``done`` (kept in the outputs), and how many that skips.

    ``held`` names every input the outputs hold rows of (``done`` and the last, maybe incomplete one), as
    ``printable_path`` writes names. Each must be among ``inputs``, or the outputs came from another run and are
    refused. Inputs are read (and held in memory) only until all of ``held`` has been met: in the usual case
    as many as the outputs hold; the rest stream on, lazily, and are all predicted (a file given twice
    is predicted twice, as in an uninterrupted run)."""
    remaining = set(held)
    source = iter(inputs)
    met: list[Any] = []
    while remaining:
        item = next(source, None)
        if item is None:
            missing = [key for key in held if key in remaining]
            more = f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
            raise ConfigError(f"--resume: {output} holds rows of {len(missing)} input(s) that are not among this run's inputs "
                              f"({', '.join(missing[:SHOWN])}{more}); resume with the inputs that wrote it, named as then "
                              "(relative paths are compared as written), or write to another file")
        remaining.discard(printable_path(str(item)))
        met.append(item)
    todo = [item for item in met if printable_path(str(item)) not in done]
    return itertools.chain(todo, source), len(met) - len(todo)
