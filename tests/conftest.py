import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the decoded-array cache of tests out of the user's home."""
    monkeypatch.setenv("FERKIT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ferkit-cache"))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A one-epoch ``tiny-smoke-v1`` checkpoint trained through the CLI on a generated FER2013 folder; shared by the
    recognizer, bulk, real-time and server tests (read-only: tests copy it before changing anything)."""
    from data.fixtures import write_fer2013_folder
    from ferkit.cli import main

    root = tmp_path_factory.mktemp("tiny")
    data = write_fer2013_folder(root / "fer", per_class=2)
    assert main(["train", "--recipe", "tiny-smoke-v1", "--data", f"fer2013:{data}", "--out", str(root / "run"), "--quiet", "--set", "epochs=1", "--no-test"]) == 0
    return root / "run" / "best.pt"
