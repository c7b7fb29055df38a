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


def test_the_model_card_names_a_single_member_shipped_alone_by_its_recipe(tiny_checkpoint, tmp_path, monkeypatch):
    """Issue 15's choice may ship one member of an ensemble: its checkpoint records the recipe's name, version and
    seed, not its description, which the card then takes from the recipe files."""
    from ferkit.artifacts import ensemble_checkpoint, load_checkpoint, member_checkpoint, save_checkpoint

    import ship_default_model

    ensemble = save_checkpoint(tmp_path / "ens.pt", ensemble_checkpoint([tiny_checkpoint, tiny_checkpoint]))
    member = save_checkpoint(tmp_path / "member0.pt", member_checkpoint(ensemble, 0))  # as extract_member.py writes it
    shipped = tmp_path / "repo" / "src" / "ferkit" / "weights" / "ferkit-default.pt"
    shipped.parent.mkdir(parents=True)
    ship_default_model.ship(load_checkpoint(member), str(member), shipped, "int8")  # as the after-long queue ships it
    monkeypatch.setattr(report, "REPO", tmp_path / "repo")
    monkeypatch.setattr(report, "RESULTS", tmp_path / "results")
    card = report.block_model_card()
    assert "| Recipe | `tiny-smoke-v1`: " in card  # the description of the registered recipe
