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
