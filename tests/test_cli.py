"""The CLI end to end on tiny generated datasets: train -> evaluate, and its error messages."""

import json

import numpy as np
import pytest

from data.fixtures import write_ckplus, write_fer2013_folder
from ferkit.cli import main


def test_train_then_evaluate_on_tiny_fer2013(tmp_path, capsys):
    data = write_fer2013_folder(tmp_path / "fer", per_class=3)
    out = tmp_path / "run"
    assert main(["train", "--recipe", "tiny-smoke-v1", "--data", f"fer2013:{data}", "--out", str(out), "--quiet", "--set", "epochs=2", "--device", "cpu"]) == 0
    assert (out / "best.pt").exists() and (out / "test.json").exists() and (out / "test_confusion.png").exists()
    test = json.loads((out / "test.json").read_text())
    assert test["dataset"] == "fer2013/PrivateTest" and test["n"] == 21
    assert main(["evaluate", str(out / "best.pt"), "--data", f"fer2013:{data}", "--split", "PublicTest", "--tta", "tencrop", "--out", str(tmp_path / "eval")]) == 0
    result = json.loads((tmp_path / "eval" / "fer2013_PublicTest.json").read_text())
    assert result["tta"] == "tencrop" and len(result["confusion_matrix"]) == 7
    assert "accuracy" in capsys.readouterr().out


def test_kfold_training_writes_a_fold_summary(tmp_path, capsys):
    data = write_ckplus(tmp_path / "ck", subjects=12)
    out = tmp_path / "ck-run"
    code = main(["train", "--recipe", "tiny-smoke-v1", "--data", f"ckplus48:{data}", "--out", str(out), "--quiet",
                 "--set", "epochs=1", "--set", "protocol=kfold10", "--fold", "2", "5", "--tta", "none"])
    assert code == 0 and (out / "fold2" / "best.pt").exists() and (out / "fold5" / "best.pt").exists()
    summary = json.loads((out / "folds_summary.json").read_text())
    per_fold = [json.loads((out / name / "test.json").read_text())["accuracy"] for name in ("fold2", "fold5")]
    assert summary["recipe"] == "tiny-smoke-v1" and [row["split"] for row in summary["folds"]] == ["fold2", "fold5"]
    assert [row["test_accuracy"] for row in summary["folds"]] == per_fold
    assert summary["mean_accuracy"] == pytest.approx((per_fold[0] + per_fold[1]) / 2)
    assert summary["std_accuracy"] == pytest.approx(abs(per_fold[0] - per_fold[1]) / 2)  # population std of two numbers
    assert "2 folds: accuracy" in capsys.readouterr().out
    # a later call on other folds adds to the summary instead of replacing it
    assert main(["train", "--recipe", "tiny-smoke-v1", "--data", f"ckplus48:{data}", "--out", str(out), "--quiet",
                 "--set", "epochs=1", "--set", "protocol=kfold10", "--fold", "7", "--tta", "none"]) == 0
    summary = json.loads((out / "folds_summary.json").read_text())
    assert [row["split"] for row in summary["folds"]] == ["fold2", "fold5", "fold7"] and summary["n_folds"] == 3
    assert [row["test_accuracy"] for row in summary["folds"]][:2] == per_fold
    assert "3 folds (2 scored by earlier calls): accuracy" in capsys.readouterr().out


def test_evaluating_a_fer2013_model_on_ckplus_reports_contempt_as_unmapped(tmp_path, capsys):
    fer = write_fer2013_folder(tmp_path / "fer", per_class=2)
    ck = write_ckplus(tmp_path / "ck", subjects=12)
    out = tmp_path / "run"
    main(["train", "--recipe", "tiny-smoke-v1", "--data", f"fer2013:{fer}", "--out", str(out), "--quiet", "--set", "epochs=1", "--no-test"])
    assert main(["evaluate", str(out / "best.pt"), "--data", f"ckplus48:{ck}", "--split", "test", "--out", str(tmp_path / "x")]) == 0
    assert "unmapped" in capsys.readouterr().out and "contempt" in json.loads((tmp_path / "x" / "ckplus48_fold0_test.json").read_text())["unmapped_classes"]


@pytest.mark.parametrize("argv,message", [
    (["train", "--recipe", "nope", "--data", "x", "--out", "y"], "unknown recipe"),
    (["evaluate", "missing.pt", "--data", "fer2013:/nowhere"], "checkpoint not found"),
    (["train", "--recipe", "tiny-smoke-v1", "--data", "fer2013:/nowhere", "--out", "y"], "not found"),
    (["train", "--recipe", "tiny-smoke-v1", "--data", "fer2013:/nowhere", "--out", "y", "--occluder-workers", "-1"], "--occluder-workers must be >= 0"),
])
def test_bad_input_gives_one_clear_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_evaluate_occluded_copy_export_and_datasets_commands(tmp_path, capsys, monkeypatch):
    import ferkit.evaluate.reports as reports
    from ferkit.data import load_fer2013

    data = write_fer2013_folder(tmp_path / "fer", per_class=2)
    out = tmp_path / "run"
    main(["train", "--recipe", "tiny-smoke-v1", "--data", f"fer2013:{data}", "--out", str(out), "--quiet", "--set", "epochs=1", "--no-test"])
    scored = []  # the datasets evaluate_model was given
    score = reports.evaluate_model
    monkeypatch.setattr(reports, "evaluate_model", lambda loaded, dataset, **kw: scored.append(dataset) or score(loaded, dataset, **kw))
    assert main(["evaluate", str(out / "best.pt"), "--data", f"fer2013:{data}", "--split", "test", "--occlude", "1.0", "--out", str(tmp_path / "occ")]) == 0
    occluded = json.loads((tmp_path / "occ" / "occ-fer2013_PrivateTest.json").read_text())
    assert occluded["n"] == 14 and occluded["occlusion"]["occluded"] == occluded["occlusion"]["images"] == 14  # the file says what it scored
    assert occluded["occlusion"]["fraction"] == 1.0 and occluded["occlusion"]["seed"] == 0 and sum(occluded["occlusion"]["kind_counts"].values()) == 14
    clean = load_fer2013(data, "PrivateTest")
    assert len(scored) == 1 and scored[0].name == "occ-fer2013/PrivateTest"
    np.testing.assert_array_equal(scored[0].labels, clean.labels)
    assert (scored[0].images != clean.images).reshape(14, -1).any(1).all()  # --occlude 1.0: every image occluded
    assert main(["export", str(out / "best.pt"), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").stat().st_size > 1000
    capsys.readouterr()
    assert main(["datasets"]) == 0
    assert "rafdb" in capsys.readouterr().out
    assert main(["datasets", "inspect", str(data)]) == 0
    assert "PrivateTest" in capsys.readouterr().out


def test_evaluate_uses_the_checkpoints_own_fold_and_refuses_another(tmp_path, capsys):
    ck = write_ckplus(tmp_path / "ck", subjects=12)
    out = tmp_path / "ck-run"
    main(["train", "--recipe", "tiny-smoke-v1", "--data", f"ckplus48:{ck}", "--out", str(out), "--quiet", "--set", "epochs=1",
          "--protocol", "kfold10", "--fold", "3", "--no-test"])
    checkpoint = str(out / "fold3" / "best.pt")
    assert main(["evaluate", checkpoint, "--data", f"ckplus48:{ck}", "--out", str(tmp_path / "e")]) == 0
    assert (tmp_path / "e" / "ckplus48_fold3_test.json").exists()
    assert main(["evaluate", checkpoint, "--data", f"ckplus48:{ck}", "--fold", "0"]) == 2
    assert "trained on fold 3" in capsys.readouterr().err
    assert main(["evaluate", checkpoint, "--data", f"ckplus48:{ck}", "--protocol", "random800"]) == 2
    assert "trained on fold3 of protocol kfold10; scoring protocol random800's test split would include" in capsys.readouterr().err


@pytest.mark.parametrize("split,recorded,given,expected", [
    ("fold3", None, None, (None, 3)), ("fold3", None, "kfold10", ("kfold10", 3)), ("fold3", "kfold10", "kfold10", ("kfold10", 3)),
    ("fold3", None, "random800", "refused"), ("fold3", "kfold10", "kfold5", "refused"), ("random800", None, "kfold10", "refused"),
    ("random800", None, None, ("random800", 0)),  # run_recipe.py --protocol random800 records a null protocol
    ("fer2013", None, "official", ("official", 0)),  # a fixed official split: any protocol of the data may score it
])
def test_evaluate_refuses_another_protocol_for_a_split_drawn_from_the_data(split, recorded, given, expected):
    from types import SimpleNamespace

    from ferkit.cli import checkpoint_protocol
    from ferkit.errors import FerkitError

    loaded = SimpleNamespace(path="m.pt", split=split, recipe={"protocol": recorded, "seed": 0})
    if expected == "refused":
        with pytest.raises(FerkitError, match="Omit --protocol"):
            checkpoint_protocol(loaded, given, None, "test")
    else:
        protocol, seed, fold = checkpoint_protocol(loaded, given, None, "test")
        assert (protocol, fold) == expected and seed == 0
    if given:  # every image once (cross-dataset scoring) is never refused
        assert checkpoint_protocol(loaded, given, None, "all")[0] == given


def test_outputs_are_not_silently_overwritten(tmp_path, capsys):
    data = write_fer2013_folder(tmp_path / "fer", per_class=2)
    out = tmp_path / "run"
    main(["train", "--recipe", "tiny-smoke-v1", "--data", f"fer2013:{data}", "--out", str(out), "--quiet", "--set", "epochs=1", "--no-test"])
    target = tmp_path / "m.onnx"
    assert main(["export", str(out / "best.pt"), "--out", str(target)]) == 0
    assert main(["export", str(out / "best.pt"), "--out", str(target)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", str(out / "best.pt"), "--out", str(target), "--overwrite"]) == 0
    existing = tmp_path / "res.json"
    existing.write_text("{}")
    assert main(["predict", str(data / "test" / "happy"), "--detector", "none", "--model", str(out / "best.pt"), "--json", str(existing)]) == 2
    assert existing.read_text() == "{}"


def test_train_takes_a_recipe_file_of_ones_own_and_recipes_prints_it(tmp_path, capsys):
    data = write_fer2013_folder(tmp_path / "fer", per_class=2)
    mine = tmp_path / "experiments" / "mine.toml"
    mine.parent.mkdir()
    mine.write_text('[my-smoke-v1]\nextends = "tiny-smoke-v1"\nepochs = 1\n')
    assert main(["recipes", str(mine)]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 1
    out = tmp_path / "run"
    assert main(["train", "--recipe", str(mine), "--data", f"fer2013:{data}", "--out", str(out), "--quiet", "--no-test"]) == 0
    assert json.loads((out / "recipe.json").read_text())["name"] == "my-smoke"
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


def test_evaluate_scores_an_onnx_export_as_its_checkpoint_and_an_int8_one(tiny_checkpoint, tmp_path):
    """Found by an audit: evaluate refused ONNX files ("not a PyTorch file"), so an int8 export's accuracy could not be measured."""
    data = write_fer2013_folder(tmp_path / "fer", per_class=3)
    onnx, int8 = tmp_path / "m.onnx", tmp_path / "m8.onnx"
    assert main(["export", str(tiny_checkpoint), "--out", str(onnx)]) == 0
    assert main(["export", str(tiny_checkpoint), "--out", str(int8), "--int8", "--calibration", f"fer2013:{data}", "--calibration-size", "16"]) == 0
    scored = {}
    for name, model in (("pt", tiny_checkpoint), ("onnx", onnx), ("int8", int8)):
        assert main(["evaluate", str(model), "--data", f"fer2013:{data}", "--tta", "flip", "--out", str(tmp_path / name)]) == 0
        scored[name] = json.loads((tmp_path / name / "fer2013_PrivateTest.json").read_text())
    assert scored["onnx"]["n"] == scored["pt"]["n"] == 21 and scored["onnx"]["recipe"] == scored["pt"]["recipe"] == "tiny-smoke"
    assert scored["onnx"]["accuracy"] == pytest.approx(scored["pt"]["accuracy"], abs=1 / 21)  # same network, ONNX Runtime's arithmetic
    assert scored["onnx"]["checkpoint"] == str(onnx) and scored["int8"]["checkpoint"] == str(int8)
    assert scored["int8"]["accuracy"] == pytest.approx(scored["pt"]["accuracy"], abs=2 / 21)
    # image by image: the int8 graph predicts the checkpoint's class for at least 19 of the 21 faces
    from ferkit.artifacts import load_any
    from ferkit.data import load_fer2013
    from ferkit.evaluate.predict import predict_probabilities

    faces = load_fer2013(data, "PrivateTest").images
    predicted = {name: predict_probabilities((m := load_any(path)).model, faces, in_chans=m.in_chans, image_size=m.image_size, tta="flip").argmax(1)
                 for name, path in (("pt", tiny_checkpoint), ("int8", int8))}
    assert (predicted["int8"] == predicted["pt"]).sum() >= 19, predicted


def test_export_ensemble_and_predict_name_an_export_given_as_a_checkpoint(tiny_checkpoint, tmp_path, capsys):
    """Found by an audit: an ONNX file was "not a PyTorch file (it starts with b'\\x08\\x08...')" and ferkit's own TorchScript
    export "damaged or truncated" (after a torch warning)."""
    onnx, scripted = tmp_path / "m.onnx", tmp_path / "m.pt"
    assert main(["export", str(tiny_checkpoint), "--out", str(onnx)]) == 0
    assert main(["export", str(tiny_checkpoint), "--format", "torchscript", "--out", str(scripted)]) == 0
    capsys.readouterr()
    for argv in (["export", str(onnx), "--out", str(tmp_path / "again.onnx")], ["ensemble", str(onnx), str(tiny_checkpoint), "--out", str(tmp_path / "e.pt")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "is an ONNX model (as `ferkit export` writes), not a PyTorch checkpoint: pass the PyTorch checkpoint (.pt)" in err and "starts with" not in err
    for argv in (["evaluate", str(scripted), "--data", "fer2013:/nowhere"], ["export", str(scripted), "--out", str(tmp_path / "x.onnx")],
                 ["predict", str(tmp_path), "--detector", "none", "--model", str(scripted)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "is a TorchScript export" in err and "Warning" not in err and "damaged" not in err, err
    assert not (tmp_path / "again.onnx").exists() and not (tmp_path / "e.pt").exists()


def test_evaluate_refuses_to_replace_earlier_results_without_overwrite(tiny_checkpoint, tmp_path, capsys):
    """Found by an audit: a second evaluate into the same --out (another checkpoint, another TTA) replaced the first."""
    data = write_fer2013_folder(tmp_path / "fer", per_class=2)
    out = tmp_path / "eval"
    first = ["evaluate", str(tiny_checkpoint), "--data", f"fer2013:{data}", "--tta", "none", "--out", str(out)]
    assert main(first) == 0
    result = out / "fer2013_PrivateTest.json"
    kept = result.read_text()
    for tta in ("flip", "none"):
        assert main([*first[:-4], "--tta", tta, "--out", str(out)]) == 2
        assert f"{result} exists; pass --overwrite to replace it" in capsys.readouterr().err
        assert result.read_text() == kept
    assert main([*first[:-4], "--tta", "flip", "--out", str(out), "--overwrite"]) == 0
    assert json.loads(result.read_text())["tta"] == "flip"
    assert main([*first, "--occlude", "0.5"]) == 0  # occluded results have their own name (occ-...) beside the clean ones
    assert main([*first, "--occlude", "1.0"]) == 2 and "occ-fer2013_PrivateTest.json exists" in capsys.readouterr().err


def test_evaluate_result_names_of_image_folders_hold_no_colon(tiny_checkpoint, tmp_path):
    data = write_fer2013_folder(tmp_path / "faces", per_class=2)  # train/<class>/ + test/<class>/: an image folder too
    assert main(["evaluate", str(tiny_checkpoint), "--data", f"imagefolder:{data}", "--out", str(tmp_path / "e")]) == 0
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["imagefolder_test.json", "imagefolder_test_confusion.png"]


def test_evaluate_help_lists_every_split_it_takes(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "train|val|test of the checkpoint's fold, or all: every image of the data once" in help_text and "--overwrite" in help_text


def test_a_runs_recipe_json_given_as_a_recipe_says_recipe_files_are_toml(tmp_path, capsys, monkeypatch):
    """Found by an audit: a run's recipe.json passed as --recipe was "not valid TOML", with no hint."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "recipe.json").write_text(json.dumps({"name": "tiny-smoke", "version": 1, "epochs": 1}))
    monkeypatch.chdir(tmp_path / "run")
    for recipe in (str(tmp_path / "run" / "recipe.json"), "recipe.json"):  # a bare file name too (was "unknown recipe")
        assert main(["train", "--recipe", recipe, "--data", "fer2013:/nowhere", "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert "recipe.json is JSON, but recipe files are TOML (docs/recipes.md)" in err and "(tiny-smoke-v1: its shipped tag" in err
        assert "--resume" in err and "Traceback" not in err


def test_python_dash_m_ferkit_is_the_ferkit_command():
    """``python -m ferkit`` failed with "No module named ferkit.__main__"."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "ferkit", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("ferkit ")


def test_train_refuses_a_device_this_machine_lacks_before_reading_the_data(tmp_path, capsys, monkeypatch):
    """--device cuda without a GPU was refused only after the whole of FER2013 was decoded."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("ferkit.train.experiment.run_experiment", lambda *a, **k: pytest.fail("data read before the device was checked"))
    argv = ["train", "--recipe", "tiny-smoke-v1", "--data", "fer2013:/nowhere", "--out", str(tmp_path / "run"), "--device", "cuda"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "CUDA is not available on this machine; use --device cpu" in err and "Traceback" not in err


def test_a_listing_read_by_a_reader_that_goes_away_ends_quietly(tmp_path):
    """`ferkit recipes | head -1` printed "ferkit recipes: error: Broken pipe"."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    for command in ("recipes", "datasets"):
        child = subprocess.Popen([sys.executable, "-m", "ferkit", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
        child.stdout.close()  # the reader is gone before the first line, as head's is after it
        err = child.stderr.read().decode()
        child.stderr.close()
        assert child.wait(timeout=120) == 1 and err == "", (command, err)
