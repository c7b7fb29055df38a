"""Outputs of ``ferkit predict`` written as results come, and resumed after an interruption.

JSONL (one object per face, or ``{"file", "error"}`` per failed input) and CSV (one row per face, or a
row with only ``file`` and ``error``) are appended and flushed after every input, so a kill loses at
most the input being written. Results come in input order, so a file always holds a prefix of the
full output, grouped by input. ``resume`` keeps that prefix minus its last input (which may be cut
off: a torn line, a video stopped midway), truncates the rest, and reports the inputs it holds, which
the run then skips. A partly written video is therefore redone from its first frame, and its temporal
smoothing matches an uninterrupted run.

``--json`` writes one JSON document at the end (atomically): it keeps every row in memory, so it is
for small jobs; it cannot be resumed.

File names are written as ``io_utils.printable_path`` gives them: valid UTF-8 in every output, with the bytes of a
name that is not UTF-8 as ``\\xNN`` escapes (``b"\\xff.png"`` -> ``\\xff.png``), so that CSV readers and strict JSON
parsers accept every row. A resume compares names in that form, and reads older files that held the raw bytes.
Before a resume keeps any row, ``ferkit.bulk_resume`` checks the run record beside each output and that the
outputs hold only this run's inputs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, TextIO

from ferkit.bulk_resume import check_record, inputs_to_predict, write_record
from ferkit.errors import ConfigError, OutputError
from ferkit.io_utils import check_writable_file, is_special_file, printable_path

if TYPE_CHECKING:
    from ferkit.bulk import FailedInput
    from ferkit.recognizer import ImagePrediction

CSV_COLUMNS = ("file", "frame", "face", "x", "y", "w", "h", "landmarks", "label", "confidence")


def face_rows(result: "ImagePrediction") -> list[dict[str, Any]]:
    """One dict per face: file, frame, face, box, landmarks, label, confidence, probabilities (``ImagePrediction.to_rows``),
    the file named as outputs write it (``printable_path``)."""
    return [{**row, "file": printable_path(row["file"])} for row in result.to_rows()]


def failed_row(item: "FailedInput") -> dict[str, str]:
    """A failed input's row, its name (in the message too) as outputs write it."""
    return {"file": printable_path(item.source), "error": printable_path(item.error)}


class _Stream:
    """An output appended line by line; ``key_of(line)`` names the input a line belongs to."""

    header: str = ""
    kind: str = ""  # the format, as error messages name it

    def __init__(self, path: str) -> None:
        self.path = path
        self.file: TextIO | None = None

    def line_key(self, line: str) -> str:
        raise NotImplementedError

    def record_complete(self, record: bytes) -> bool:
        """Whether ``record`` (whole lines) is a whole row; a CSV row whose file name holds a newline spans lines."""
        return True

    def lines(self, item: "ImagePrediction | FailedInput") -> list[str]:
        raise NotImplementedError

    def input_runs(self) -> tuple[list[tuple[str, int]], int]:
        """(input, byte offset where its lines start) per input in the file, and where the header ends.
        A last line without its newline was cut off by a kill and is left out."""
        runs: list[tuple[str, int]] = []
        with open(self.path, "rb") as f:
            head = f.readline() if self.header else b""
            if self.header and head.decode("utf-8").rstrip("\r\n") != self.header.rstrip("\n"):
                raise ConfigError(f"{self.path} has another header than this model's output ({self.header.strip()[:80]}...); "
                                  "resume with the same model, or write to another file")
            offset = len(head)
            header_end = offset
            record = b""
            for number, raw in enumerate(f, start=2 if self.header else 1):
                if not raw.endswith(b"\n"):
                    break
                record += raw
                if not self.record_complete(record):
                    continue
                raw, record = record, b""
                try:
                    key = printable_path(self.line_key(raw.decode("utf-8", "surrogateescape")))  # older files held raw bytes
                except (ValueError, KeyError, TypeError, IndexError, StopIteration):  # JSON/UTF-8 errors are ValueErrors
                    raise ConfigError(f"--resume: line {number} of {self.path} is not a ferkit predict {self.kind} row; resume "
                                      "only a file this command wrote, or write to another file") from None
                if not runs or runs[-1][0] != key:
                    runs.append((key, offset))
                offset += len(raw)
        return runs, header_end

    def open(self, *, keep_until: int | None) -> None:
        """Start writing: a new file (header first), or the existing one cut at ``keep_until`` bytes."""
        if self.path == "-":
            self.file = sys.stdout
            if self.header:
                self.file.write(self.header)
            return
        try:
            if keep_until is None:
                if not is_special_file(self.path):
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)  # as --json's atomic write does
                self.file = open(self.path, "w", encoding="utf-8", newline="")  # every name printable: no byte that is not UTF-8
                self.file.write(self.header)
            else:
                self.file = open(self.path, "r+", encoding="utf-8", newline="")
                self.file.truncate(keep_until)
                self.file.seek(keep_until)
            self.file.flush()
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def write(self, item: "ImagePrediction | FailedInput") -> None:
        lines = self.lines(item)
        if lines:
            self.file.write("".join(lines))
            self.file.flush()  # in the OS's hands now: a killed process loses nothing written so far

    def close(self) -> None:
        if self.file is not None and self.file is not sys.stdout:
            self.file.close()


class JsonlOutput(_Stream):
    kind = "JSON Lines"

    def __init__(self, path: str, class_names: tuple[str, ...] | None = None) -> None:
        super().__init__(path)
        self.class_names = class_names  # when given, a resume refuses rows of a model with other classes

    def line_key(self, line: str) -> str:
        row = json.loads(line)
        if self.class_names is not None and "probabilities" in row and tuple(row["probabilities"]) != tuple(self.class_names):
            raise ConfigError(f"--resume: {self.path} holds rows of a model with other classes ({', '.join(row['probabilities'])}) than "
                              f"this one ({', '.join(self.class_names)}); resume with the same model, or write to another file")
        return row["file"]

    def lines(self, item: "ImagePrediction | FailedInput") -> list[str]:
        from ferkit.bulk import FailedInput

        if isinstance(item, FailedInput):
            return [json.dumps(failed_row(item)) + "\n"]
        return [json.dumps(row) + "\n" for row in face_rows(item)]


class CsvOutput(_Stream):
    def __init__(self, path: str, class_names: tuple[str, ...]) -> None:
        super().__init__(path)
        self.class_names = class_names
        self.header = self._format([*CSV_COLUMNS, *class_names, "error"])

    kind = "CSV"

    @staticmethod
    def _format(values: list[Any]) -> str:
        buf = io.StringIO()
        # csv quotes "\n" but not "\r" when rows end in "\n": a name holding "\r" would make the row unreadable
        carriage_return = any(isinstance(v, str) and "\r" in v for v in values)
        csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL if carriage_return else csv.QUOTE_MINIMAL).writerow(values)
        return buf.getvalue()

    def line_key(self, line: str) -> str:
        return next(csv.reader(io.StringIO(line, newline="")))[0]

    def record_complete(self, record: bytes) -> bool:
        return record.count(b'"') % 2 == 0  # inside a quoted field until its quotes pair up ("" inside counts two)

    def lines(self, item: "ImagePrediction | FailedInput") -> list[str]:
        from ferkit.bulk import FailedInput

        if isinstance(item, FailedInput):
            row = failed_row(item)
            return [self._format([row["file"], *[""] * (len(CSV_COLUMNS) - 1 + len(self.class_names)), row["error"]])]
        return [self._format([row["file"], "" if row["frame"] is None else row["frame"], row["face"], *row["box"],
                              "" if row["landmarks"] is None else json.dumps(row["landmarks"]), row["label"], row["confidence"],
                              *[row["probabilities"][n] for n in self.class_names], ""]) for row in face_rows(item)]


class TableOutput:
    """The human-readable table on stdout, a line per face as it comes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        stream.write(f"{'file':<40} {'frame':>5} {'face':>4}  {'box':<20} {'label':<10} {'conf':>5}\n")

    def write(self, item: "ImagePrediction | FailedInput") -> None:
        from ferkit.bulk import FailedInput

        if isinstance(item, FailedInput):
            return
        for row in face_rows(item):
            name = row["file"] if len(row["file"]) <= 40 else "..." + row["file"][-37:]
            frame = "" if row["frame"] is None else str(row["frame"])
            self.stream.write(f"{name:<40} {frame:>5} {row['face']:>4}  {str(tuple(row['box'])):<20} {row['label']:<10} {row['confidence']:>5.2f}\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class JsonDocumentOutput:
    """``--json``: one document written at the end; holds every row until then."""

    def __init__(self, path: str, model: str, class_names: tuple[str, ...]) -> None:
        self.path, self.model, self.class_names = path, model, class_names
        self.rows: list[dict[str, Any]] = []
        self.errors: list[dict[str, str]] = []

    def write(self, item: "ImagePrediction | FailedInput") -> None:
        from ferkit.bulk import FailedInput

        if isinstance(item, FailedInput):
            self.errors.append(failed_row(item))
        else:
            self.rows += face_rows(item)

    def close(self) -> None:
        from ferkit.io_utils import atomic_write_json

        payload = {"model": printable_path(self.model), "class_names": list(self.class_names), "faces": self.rows, "errors": self.errors}
        if self.path == "-":
            print(json.dumps(payload, indent=2))
        else:
            atomic_write_json(self.path, payload)


def check_output_paths(outputs: dict[str, str | None], *, overwrite: bool, resume: bool, annotated: str | None = None) -> None:
    """Refuse, before any model is loaded, outputs (``{"--jsonl": path, ...}``, None when not given) that would replace an
    existing file unasked, write into one another, or could not be written; ``annotated``: the --save-annotated folder."""
    if overwrite and resume:
        raise ConfigError("--overwrite starts the outputs afresh and --resume continues them; pass only one")
    given = {flag: path for flag, path in outputs.items() if path}
    if resume and "--json" in given:
        raise ConfigError("--json writes one document at the end and cannot be resumed; use --jsonl or --csv with --resume")
    _check_distinct(given, annotated)
    for flag, path in given.items():
        if path == "-":
            continue
        check_writable_file(path)  # a folder, a file in a parent folder's place, no permission: refused before any work
        if Path(path).exists() and not is_special_file(path) and not overwrite:
            if flag == "--json":
                raise ConfigError(f"{path} exists; pass --overwrite to replace it (--json is written whole at the end and cannot be resumed)")
            if not resume:
                raise ConfigError(f"{path} exists; pass --resume to continue it or --overwrite to replace it")


def _check_distinct(given: dict[str, str], annotated: str | None) -> None:
    """Two outputs in one file would mix their rows, or one would replace the other, with nothing said."""
    on_stdout = [flag for flag, path in given.items() if path == "-"]
    if len(on_stdout) > 1:
        raise ConfigError(f"only one output may be '-' (standard output): {' and '.join(on_stdout)} would mix their rows there")
    seen: dict[tuple, str] = {}
    for flag, path in [*given.items(), *([("--save-annotated", annotated)] if annotated else [])]:
        target = _write_target(path)
        if target is None:
            continue
        if target in seen:
            shown = "standard output" if "-" in (path, given.get(seen[target])) else path
            raise ConfigError(f"{seen[target]} and {flag} name the same file ({shown}); give each output a file of its own")
        seen[target] = flag


def _write_target(path: str) -> tuple | None:
    """What writing to ``path`` writes into, the same for every name of one file (a link, ``./x``; '-' and
    ``/dev/stdout``); None for /dev/null, which any number of outputs may share, and for an unknown standard output."""
    try:
        info = os.fstat(sys.stdout.fileno()) if path == "-" else os.stat(path)
    except (OSError, ValueError, AttributeError):  # not there yet; or stdout replaced by an object without a file
        return None if path == "-" else ("path", os.path.realpath(path))
    if os.path.exists(os.devnull) and os.path.samestat(info, os.stat(os.devnull)):
        return None
    return ("file", info.st_dev, info.st_ino)


def writes_to_stdout(path: str | None) -> bool:
    """Whether an output goes to standard output ('-', or another name of it such as /dev/stdout), where the table would mix in."""
    if not path or path == "-":
        return bool(path)
    target = _write_target(path)
    return target is not None and target == _write_target("-")


@dataclass
class _ResumePoint:
    """Where the existing outputs are to be cut, found before anything is cut."""

    streams: list[_Stream]  # the outputs that exist and hold rows
    cuts: list[int]  # the byte offset each is cut at
    held: list[str]  # every input they hold rows of, in order (the last may be incomplete: it is redone)
    done: set[str]  # the inputs kept, which the run skips


def _resume_point(streams: list[_Stream]) -> _ResumePoint | None:
    """The outputs read back and checked to hold the same inputs; None when none holds anything (a fresh start)."""
    if any(s.path == "-" for s in streams):
        raise ConfigError("--resume needs output files; standard output ('-') cannot be resumed")
    existing = [s for s in streams if os.path.exists(s.path) and os.path.getsize(s.path) > 0]
    if not existing:
        return None
    if len(existing) != len(streams):
        missing = [s.path for s in streams if s not in existing]
        raise ConfigError(f"--resume: {', '.join(missing)} missing or empty while {existing[0].path} holds results; resume with the same outputs")
    scanned = [s.input_runs() for s in existing]
    keep = max(min(len(runs) for runs, _ in scanned) - 1, 0)  # the last input of the shortest may be incomplete
    done = [key for key, _ in scanned[0][0][:keep]]
    for stream, (runs, _) in zip(existing, scanned):
        if [key for key, _ in runs[:keep]] != done:
            raise ConfigError(f"--resume: {stream.path} and {existing[0].path} hold different inputs; resume each separately")
    cuts = [runs[keep][1] if keep < len(runs) else header_end for runs, header_end in scanned]
    held = list(dict.fromkeys(key for runs, _ in scanned for key, _ in runs))
    return _ResumePoint(existing, cuts, held, set(done))


def open_streams(streams: list[_Stream], *, resume: bool, inputs: Iterable[Any] | None = None, settings: dict[str, Any] | None = None,
                 model: str = "") -> tuple[set[str], Iterator[Any] | None, int]:
    """Open the streamed outputs: (inputs kept, ``inputs`` left to predict, how many of ``inputs`` that skips).

    With ``resume``, the outputs are cut to the inputs they all hold complete. Every check comes before any file is
    cut, so a refusal leaves every file as it was: ``settings`` (``bulk_resume.run_settings``) against each output's
    run record, and the outputs' inputs among ``inputs`` (not checked when None). ``settings`` is recorded beside
    each output, with ``model`` named; None: no record is written or checked."""
    point = _resume_point(streams) if resume else None
    if point is None:
        for stream in streams:
            stream.open(keep_until=None)
            if settings is not None:
                write_record(stream.path, model, settings)
        return set(), None if inputs is None else iter(inputs), 0
    if settings is not None:
        for stream in point.streams:
            check_record(stream.path, settings)
    todo, skipped = (None, len(point.done)) if inputs is None else inputs_to_predict(inputs, point.held, point.done, point.streams[0].path)
    for stream, cut in zip(point.streams, point.cuts):
        stream.open(keep_until=cut)
        if settings is not None:
            write_record(stream.path, model, settings)  # an older output gets its record: its rows from now on are this run's
    return point.done, todo, skipped


class PredictionOutputs:
    """Every output of a ``ferkit predict`` run, written to together. ``done``: the inputs a resume kept (as
    ``printable_path`` names them); ``todo``: the inputs given to ``open_outputs`` less those; ``skipped``: how many
    of the given inputs that left out."""

    def __init__(self, writers: list[Any], done: set[str], todo: Iterator[Any] | None = None, skipped: int = 0) -> None:
        self.writers = writers
        self.done = done
        self.todo = todo
        self.skipped = skipped

    def write(self, item: "ImagePrediction | FailedInput") -> None:
        for writer in self.writers:
            writer.write(item)

    def close(self, *, complete: bool = True) -> None:
        """Close every output; a run that did not complete leaves its streamed rows but no --json document."""
        for writer in self.writers:
            if complete or not isinstance(writer, JsonDocumentOutput):
                writer.close()


def open_outputs(*, jsonl: str | None, csv_path: str | None, json_path: str | None, table: TextIO | None, resume: bool,
                 model: str, class_names: tuple[str, ...], inputs: Iterable[Any] | None = None,
                 settings: dict[str, Any] | None = None) -> PredictionOutputs:
    """The run's outputs, opened; with ``resume``, the streamed ones cut to what they hold complete (``open_streams``
    says what ``inputs`` and ``settings`` add)."""
    if resume and json_path:
        raise ConfigError("--json writes one document at the end and cannot be resumed; use --jsonl or --csv with --resume")
    streams: list[_Stream] = []
    if jsonl:
        streams.append(JsonlOutput(jsonl, class_names))
    if csv_path:
        streams.append(CsvOutput(csv_path, class_names))
    if resume and not streams:
        raise ConfigError("--resume continues a --jsonl or --csv output; give one")
    done, todo, skipped = open_streams(streams, resume=resume, inputs=inputs, settings=settings, model=model)
    writers: list[Any] = list(streams)
    if json_path:
        writers.append(JsonDocumentOutput(json_path, model, class_names))
    if table is not None:
        writers.append(TableOutput(table))
    return PredictionOutputs(writers, done, todo, skipped)
