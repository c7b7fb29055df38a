"""Blocks of benchmarks/report.py rendered from results JSON the test writes."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import report  # noqa: E402


def test_decoder_drift_table_says_which_copies_resume(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    assert "decoder_drift" in report.block_decoder_drift()  # not run yet: names what to run
    row = {"pixels_equal": False, "share_of_pixels_differing": 0.5, "quarter_mean_moved_max": 1, "quarter_mean_moved_mean": 0.125, "resumes": True}
    rows = {"same": {**row, "pixels_equal": True, "share_of_pixels_differing": 0.0, "quarter_mean_moved_max": 0, "quarter_mean_moved_mean": 0.0},
            "re-encoded": row, "mirrored": {**row, "quarter_mean_moved_max": 185, "quarter_mean_moved_mean": 43.0, "resumes": False}}
    (tmp_path / "decoder_drift.json").write_text(json.dumps({"rows": rows, "images": 10, "tolerance_levels": 2, "device": "cpu: test",
                                                             "commit": "abc1234", "date": "2026-12-01 00:00 UTC"}))
    table = report.block_decoder_drift()
    assert "| same | 0.0% | 0 / 0.00 | same pixels: goes on |" in table
    assert "| re-encoded | 50.0% | 1 / 0.12 | goes on (DataDriftWarning) |" in table
    assert "| mirrored | 50.0% | 185 / 43.00 | refused |" in table
    assert "10 images, tolerance 2 levels; cpu: test, commit abc1234" in table
