"""Atomic writes onto special files: ``--json /dev/null`` (or a FIFO) gets the bytes written into it, and the
device stays a device. Renaming a temporary file over it replaced /dev/null with a regular file."""

import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from ferkit.io_utils import atomic_write_json, atomic_write_text, is_special_file
from ferkit.video import VideoWriter

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")


def drain(path: Path) -> tuple[threading.Thread, list[bytes]]:
    """Read the FIFO until its writer closes it, on a thread (opening a FIFO blocks until both ends are open)."""
    received: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as f:
            received.append(f.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, received


def test_atomic_write_into_a_fifo_keeps_the_fifo(tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    thread, received = drain(fifo)
    atomic_write_json(fifo, {"label": "happy"})
    thread.join(timeout=10)
    assert received == [b'{\n  "label": "happy"\n}\n']
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no temporary file left beside it


def test_regular_files_are_still_replaced_atomically(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    assert not is_special_file(target) and not is_special_file(tmp_path) and not is_special_file(tmp_path / "missing")
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_video_writer_into_a_fifo_keeps_the_fifo(tmp_path):
    fifo = tmp_path / "annotated.avi"
    os.mkfifo(fifo)
    thread, received = drain(fifo)
    with VideoWriter(fifo, fps=10, frame_size=(32, 24), overwrite=True) as writer:
        for i in range(3):
            writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
    thread.join(timeout=10)
    assert received and received[0][:4] == b"RIFF"  # an AVI container came through the pipe
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotated.avi"]
