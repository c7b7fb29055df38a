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
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ferkit.errors import ConfigError, OutputError
from ferkit.io_utils import check_writable_file, is_special_file

if TYPE_CHECKING:
    from ferkit.bulk import FailedInput
    from ferkit.recognizer import ImagePrediction

CSV_COLUMNS = ("file", "frame", "face", "x", "y", "w", "h", "landmarks", "label", "confidence")


def face_rows(result: "ImagePrediction") -> list[dict[str, Any]]:
    """One dict per face: file, frame, face, box, landmarks, label, confidence, probabilities (``ImagePrediction.to_rows``)."""
    return result.to_rows()


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
                    key = self.line_key(raw.decode("utf-8", "surrogateescape"))
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
                self.file = open(self.path, "w", encoding="utf-8", errors="surrogateescape", newline="")
                self.file.write(self.header)
            else:
                self.file = open(self.path, "r+", encoding="utf-8", errors="surrogateescape", newline="")
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

    def line_key(self, line: str) -> str:
        return json.loads(line)["file"]

    def lines(self, item: "ImagePrediction | FailedInput") -> list[str]:
        from ferkit.bulk import FailedInput

        if isinstance(item, FailedInput):
            return [json.dumps({"file": item.source, "error": item.error}) + "\n"]
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
            return [self._format([item.source, *[""] * (len(CSV_COLUMNS) - 1 + len(self.class_names)), item.error])]
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
            self.errors.append({"file": item.source, "error": item.error})
        else:
            self.rows += face_rows(item)

    def close(self) -> None:
        from ferkit.io_utils import atomic_write_json

        payload = {"model": self.model, "class_names": list(self.class_names), "faces": self.rows, "errors": self.errors}
        if self.path == "-":
            print(json.dumps(payload, indent=2))
        else:
            atomic_write_json(self.path, payload)


def check_output_paths(paths: list[str | None], *, overwrite: bool, resume: bool) -> None:
    """Refuse to replace an existing output unless asked to, before any model is loaded."""
    if overwrite and resume:
        raise ConfigError("--overwrite starts the outputs afresh and --resume continues them; pass only one")
    for path in paths:
        if not path or path == "-":
            continue
        check_writable_file(path)  # a folder, a file in a parent folder's place, no permission: refused before any work
        if Path(path).exists() and not (overwrite or resume) and not is_special_file(path):
            raise ConfigError(f"{path} exists; pass --resume to continue it or --overwrite to replace it")


def open_streams(streams: list[_Stream], *, resume: bool) -> set[str]:
    """Open the streamed outputs; with ``resume``, cut them to the inputs they all hold complete and
    return those inputs (to be skipped)."""
    files = [s for s in streams if s.path != "-"]
    if resume and any(s.path == "-" for s in streams):
        raise ConfigError("--resume needs output files; standard output ('-') cannot be resumed")
    existing = [s for s in files if resume and os.path.exists(s.path) and os.path.getsize(s.path) > 0]
    if not existing:
        for s in streams:
            s.open(keep_until=None)
        return set()
    if len(existing) != len(files):
        missing = [s.path for s in files if s not in existing]
        raise ConfigError(f"--resume: {', '.join(missing)} missing or empty while {existing[0].path} holds results; resume with the same outputs")
    scanned = [s.input_runs() for s in existing]
    keep = max(min(len(runs) for runs, _ in scanned) - 1, 0)  # the last input of the shortest may be incomplete
    done = [key for key, _ in scanned[0][0][:keep]]
    for stream, (runs, _) in zip(existing, scanned):  # all checked before any is cut: a refusal leaves every file as it was
        if [key for key, _ in runs[:keep]] != done:
            raise ConfigError(f"--resume: {stream.path} and {existing[0].path} hold different inputs; resume each separately")
    for stream, (runs, header_end) in zip(existing, scanned):
        stream.open(keep_until=runs[keep][1] if keep < len(runs) else header_end)
    return set(done)


class PredictionOutputs:
    """Every output of a ``ferkit predict`` run, written to together."""

    def __init__(self, writers: list[Any], done: set[str]) -> None:
        self.writers = writers
        self.done = done

    def write(self, item: "ImagePrediction | FailedInput") -> None:
        for writer in self.writers:
            writer.write(item)

    def close(self, *, complete: bool = True) -> None:
        """Close every output; a run that did not complete leaves its streamed rows but no --json document."""
        for writer in self.writers:
            if complete or not isinstance(writer, JsonDocumentOutput):
                writer.close()


def open_outputs(*, jsonl: str | None, csv_path: str | None, json_path: str | None, table: TextIO | None, resume: bool,
                 model: str, class_names: tuple[str, ...]) -> PredictionOutputs:
    if resume and json_path:
        raise ConfigError("--json writes one document at the end and cannot be resumed; use --jsonl or --csv with --resume")
    streams: list[_Stream] = []
    if jsonl:
        streams.append(JsonlOutput(jsonl))
    if csv_path:
        streams.append(CsvOutput(csv_path, class_names))
    if resume and not streams:
        raise ConfigError("--resume continues a --jsonl or --csv output; give one")
    done = open_streams(streams, resume=resume)
    writers: list[Any] = list(streams)
    if json_path:
        writers.append(JsonDocumentOutput(json_path, model, class_names))
    if table is not None:
        writers.append(TableOutput(table))
    return PredictionOutputs(writers, done)
