"""ferkit.train.trained_on: `ferkit evaluate` refuses a fold rebuilt from other data than the model trained on.

Found by an audit: a fold-1 checkpoint trained on a small CK+ subset, evaluated on the full CK+, scored fold 1's test
split of the full data (which holds subjects that were its training subjects) and exited 0.
"""

import json
import shutil

import numpy as np
import pytest

from data.fixtures import write_ckplus
from ferkit.artifacts import ensemble_checkpoint, load_checkpoint, save_checkpoint
from ferkit.cli import main
from ferkit.data.dataset import FaceDataset
from ferkit.train.state import data_fingerprint
from ferkit.train.trained_on import training_set_differences


@pytest.fixture(scope="module")
def fold_run(tmp_path_factory):
    """A kfold10 fold-1 checkpoint trained on 12 CK+-style subjects, that data, and a superset with 4 more subjects."""
    root = tmp_path_factory.mktemp("trained-on")
    small = write_ckplus(root / "small", subjects=12)
    larger = write_ckplus(root / "larger", subjects=16)  # the same 12 subjects (same images) and 4 more
    assert main(["train", "--recipe", "tiny-smoke-v1", "--data", f"ckplus48:{small}", "--out", str(root / "run"), "--quiet",
                 "--set", "epochs=1", "--protocol", "kfold10", "--fold", "1", "--no-test"]) == 0
    return {"small": small, "larger": larger, "checkpoint": root / "run" / "fold1" / "best.pt"}


def _evaluate(checkpoint, data, *extra: str) -> list[str]:
    return ["evaluate", str(checkpoint), "--data", f"ckplus48:{data}", *extra]


def _refused(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("split", ["test", "val"])
def test_a_fold_of_other_data_is_refused_saying_it_may_hold_training_subjects(fold_run, capsys, tmp_path, split):
    code = main(_evaluate(fold_run["checkpoint"], fold_run["larger"], "--split", split, "--out", str(tmp_path / "e")))
    err = _refused(capsys, code)
    assert f"was trained on other data than ckplus48:{fold_run['larger']}" in err
    assert f"Its fold1 {split} split here may hold subjects or images it trained on" in err and "--split all" in err
    assert not (tmp_path / "e").exists() or not any((tmp_path / "e").iterdir())  # nothing written


def test_its_own_data_a_copy_of_it_and_every_image_of_other_data_are_scored(fold_run, tmp_path, capsys):
    copy = shutil.copytree(fold_run["small"], tmp_path / "copy")  # sample ids are relative: a copy is the same data
    for data in (fold_run["small"], copy):
        assert main(_evaluate(fold_run["checkpoint"], data, "--out", str(tmp_path / data.name))) == 0
        assert json.loads((tmp_path / data.name / "ckplus48_fold1_test.json").read_text())["n"] > 0
    assert main(_evaluate(fold_run["checkpoint"], fold_run["larger"], "--split", "all")) == 0  # cross-dataset scoring
    assert main(_evaluate(fold_run["checkpoint"], fold_run["larger"], "--split", "train")) == 0  # no held-out split to leak into


@pytest.mark.parametrize("dropped, refused", [(("data_fingerprint",), True), (("train_size", "data_fingerprint"), False)])
def test_older_checkpoints_are_compared_on_what_they_recorded(fold_run, tmp_path, capsys, dropped, refused):
    payload = {key: value for key, value in load_checkpoint(fold_run["checkpoint"]).items() if key not in dropped}
    older = save_checkpoint(tmp_path / "older.pt", payload)
    code = main(_evaluate(older, fold_run["larger"]))
    if refused:  # train_size alone still tells the full data from the subset
        assert "was trained on other data" in _refused(capsys, code)
    else:  # nothing recorded: scored as before
        assert code == 0


def test_onnx_exports_and_ensembles_carry_the_record(fold_run, tmp_path, capsys):
    onnx = tmp_path / "fold1.onnx"
    assert main(["export", str(fold_run["checkpoint"]), "--out", str(onnx)]) == 0
    assert "was trained on other data" in _refused(capsys, main(_evaluate(onnx, fold_run["larger"])))
    assert main(_evaluate(onnx, fold_run["small"], "--out", str(tmp_path / "onnx"))) == 0  # its own fold, as the checkpoint's
    assert main(_evaluate(fold_run["checkpoint"], fold_run["small"], "--out", str(tmp_path / "pt"))) == 0
    scored = [json.loads((tmp_path / name / "ckplus48_fold1_test.json").read_text()) for name in ("onnx", "pt")]
    assert scored[0]["n"] == scored[1]["n"] and scored[0]["accuracy"] == pytest.approx(scored[1]["accuracy"], abs=1 / scored[1]["n"])
    ensemble = save_checkpoint(tmp_path / "ens.pt", ensemble_checkpoint([fold_run["checkpoint"], fold_run["checkpoint"]]))
    assert "was trained on other data" in _refused(capsys, main(_evaluate(ensemble, fold_run["larger"])))


def _faces(ids: list[str], seed: int = 0) -> FaceDataset:
    images = np.random.default_rng(seed).integers(0, 256, (len(ids), 48, 48), dtype=np.uint8)
    return FaceDataset(images, np.arange(len(ids)) % 2, ("anger", "happiness"), tuple(ids), None, "faces")


def test_training_set_differences_compare_size_labels_and_ids_not_pixels():
    trained = _faces(["a/1", "a/2", "b/3"])
    record = {"train_size": 3, "data_fingerprint": data_fingerprint(trained)}
    assert training_set_differences(record, trained) == []
    assert training_set_differences(record, _faces(["a/1", "a/2", "b/3"], seed=1)) == []  # other pixels: same subjects, same split
    assert training_set_differences(record, _faces(["a/1", "a/2", "b/4"])) == ["its sample ids and labels differ"]
    assert training_set_differences(record, _faces(["a/1", "a/2"])) == ["it trained on 3 images, this data's training split has 2"]
    assert training_set_differences({}, _faces(["x/9"])) == []  # nothing recorded (older checkpoints)
