"""Where a run may start and from what it may continue (``ferkit.train.resume``): a run's results are never
overwritten, a run killed anywhere in its first epoch starts again or resumes, only a resumable last.pt of the
same recipe on the same data is continued, and single-split and k-fold runs keep to their own directories."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from data.fixtures import class_pattern, write_ckplus, write_fer2013_folder
from ferkit.artifacts import load_checkpoint, save_checkpoint
from ferkit.cli import main
from ferkit.data import FaceDataset
from ferkit.data.registry import ExperimentSplit
from ferkit.errors import CheckpointError, ConfigError, FerkitWarning
from ferkit.train import loop
from ferkit.train.config import AugmentConfig, Recipe
from ferkit.train.state import TrainState

CLASSES = ("anger", "happiness", "sadness")


def tiny_split(seed: int = 0, id_prefix: str = "") -> ExperimentSplit:
    """12 images of three learnable patterns; another ``seed`` draws other pixels under the same ids and labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), 4)
    images = np.stack([class_pattern(int(c), rng) for c in labels])
    data = FaceDataset(images, labels.astype(np.int64), CLASSES, tuple(f"{id_prefix}{i}" for i in range(len(labels))), None, "tiny")
    return ExperimentSplit("tiny", data, data, data)


def tiny_recipe(**changes) -> Recipe:
    base = Recipe(name="resume-test", model_kwargs={"channels": [8, 16, 16, 32]}, epochs=1, batch_size=8, optimizer="adam", lr=1e-3,
                  weight_decay=0.0, schedule="none", augment=AugmentConfig(erasing_p=0.0))
    return dataclasses.replace(base, **changes)


def run(recipe: Recipe, split: ExperimentSplit, out, **kwargs):
    return loop.train(recipe, split, out, device="cpu", progress=False, log=lambda line: None, **kwargs)


def contents(folder) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_finished_run_whose_last_pt_was_deleted_is_not_overwritten(tmp_path):
    split, out = tiny_split(), tmp_path / "run"
    run(tiny_recipe(), split, out)
    (out / "last.pt").unlink()
    before = contents(out)
    for resume in (False, True):
        with pytest.raises(ConfigError, match=r"holds the results of a run \(best.pt, metrics.jsonl \(1 epoch\), train_summary.json\) "
                                              r"but no last.pt to continue it from"):
            run(tiny_recipe(), split, out, resume=resume)
    assert contents(out) == before


def test_the_python_train_refuses_to_resume_with_fewer_epochs_and_changes_nothing(tmp_path):
    """Checked by train itself now, not only by train_folds: a direct call used to record the shorter recipe."""
    split, out = tiny_split(), tmp_path / "run"
    run(tiny_recipe(epochs=2), split, out)
    before = contents(out)
    with pytest.raises(ConfigError, match=f"{out} has trained 2 epochs; it cannot be resumed with epochs=1"):
        run(tiny_recipe(epochs=1), split, out, resume=True)
    assert contents(out) == before
    assert len(run(tiny_recipe(epochs=2), split, out, resume=True).history) == 2  # the same count resumes (nothing to train)


@pytest.mark.parametrize("killed_writing", ["best.pt", "last.pt", "metrics.jsonl"])
def test_a_run_killed_while_writing_its_first_epoch_starts_again_or_resumes(tmp_path, monkeypatch, killed_writing):
    """Killed before best.pt (recipe.json alone), between best.pt and last.pt (best.pt without epoch rows: starts
    again), or between last.pt and metrics.jsonl (resumes): no kill leaves a directory that can do neither."""
    split, out = tiny_split(), tmp_path / "run"
    save_checkpoint_, write_metrics_log = loop.save_checkpoint, loop.write_metrics_log

    def killed(write):
        def wrapped(path, payload):
            if path.name == killed_writing:
                raise KeyboardInterrupt
            return write(path, payload)
        return wrapped

    monkeypatch.setattr(loop, "save_checkpoint", killed(save_checkpoint_))
    monkeypatch.setattr(loop, "write_metrics_log", killed(write_metrics_log))
    with pytest.raises(KeyboardInterrupt):
        run(tiny_recipe(), split, out)
    monkeypatch.undo()
    resumable = (out / "last.pt").exists()
    assert resumable == (killed_writing == "metrics.jsonl")
    result = run(tiny_recipe(), split, out, resume=resumable)
    assert result.epochs_trained == 1 and (out / "best.pt").is_file()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


def test_resume_refuses_a_best_pt_in_place_of_last_pt(tmp_path):
    split, out = tiny_split(), tmp_path / "run"
    run(tiny_recipe(), split, out)
    (out / "last.pt").write_bytes((out / "best.pt").read_bytes())
    with pytest.raises(CheckpointError, match=r"last.pt is not a resumable last.pt \(it looks like a best.pt: it has no criterion, optimizer"):
        run(tiny_recipe(epochs=2), split, out, resume=True)


def test_resume_prints_each_changed_field_as_saved_then_current(tmp_path):
    split, out = tiny_split(), tmp_path / "run"
    run(tiny_recipe(), split, out)
    changed = tiny_recipe(lr=0.5, augment=AugmentConfig(erasing_p=0.25))
    with pytest.raises(ConfigError, match=r"fields differ, saved -> current: augment.erasing_p: 0.0 -> 0.25; lr: 0.001 -> 0.5\)"):
        run(changed, split, out, resume=True)


def test_a_corrected_description_resumes_and_a_changed_setting_does_not(tmp_path):
    split, out = tiny_split(), tmp_path / "run"
    run(tiny_recipe(description="Seconds-long"), split, out)
    run(tiny_recipe(description="Minutes on CK+48's ten folds", epochs=2), split, out, resume=True)
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    with pytest.raises(ConfigError, match=r"fields differ, saved -> current: seed: 0 -> 1\)"):
        run(tiny_recipe(description="again", epochs=3, seed=1), split, out, resume=True)


def test_resume_refuses_other_data_of_the_same_size(tmp_path):
    split, out = tiny_split(), tmp_path / "run"
    run(tiny_recipe(), split, out)
    recorded = load_checkpoint(out / "last.pt")["data_fingerprint"]
    assert recorded["class_names"] == list(CLASSES) and len(recorded["samples"]) == len(recorded["images"]) == 64
    with pytest.raises(ConfigError, match="trained on other data than this tiny training set of 12 images: its images differ"):
        run(tiny_recipe(epochs=2), tiny_split(seed=1), out, resume=True)  # same ids and labels, other pixels
    with pytest.raises(ConfigError, match="its sample ids and labels differ"):
        run(tiny_recipe(epochs=2), tiny_split(id_prefix="x"), out, resume=True)
    assert run(tiny_recipe(epochs=2), split, out, resume=True).epochs_trained == 2


def test_a_new_image_decoder_resumes_with_a_warning_and_other_images_do_not(tmp_path):
    """A JPEG decoder upgrade moves pixels by a level or two: the exact pixel hash changes, each image's mean barely."""
    from ferkit.train.resume import DataDriftWarning

    split, out = tiny_split(), tmp_path / "run"
    run(tiny_recipe(), split, out)
    redecoded = tiny_split()
    images = redecoded.train.images
    images[::2] = np.clip(images[::2].astype(np.int16) + np.where(images[::2] % 3 == 0, 1, 0), 0, 255).astype(images.dtype)
    assert not np.array_equal(images, split.train.images)
    with pytest.warns(DataDriftWarning, match=r"pixels differ slightly .* mean within 2 levels: another image decoder"):
        assert run(tiny_recipe(epochs=2), redecoded, out, resume=True).epochs_trained == 2
    brighter = tiny_split()
    brighter.train.images[:] = np.clip(brighter.train.images.astype(np.int16) + 3, 0, 255).astype(brighter.train.images.dtype)
    with pytest.raises(ConfigError, match="its images differ"):  # every image 3 levels brighter: not the same images
        run(tiny_recipe(epochs=3), brighter, out, resume=True)


def test_a_last_pt_written_before_data_fingerprints_still_resumes(tmp_path):
    split, out = tiny_split(), tmp_path / "run"
    run(tiny_recipe(), split, out)
    old = load_checkpoint(out / "last.pt")
    del old["data_fingerprint"]
    save_checkpoint(out / "last.pt", old)
    assert run(tiny_recipe(epochs=2), split, out, resume=True).epochs_trained == 2
    assert "data_fingerprint" in load_checkpoint(out / "last.pt")  # recorded from here on


def test_a_recorded_null_protocol_and_the_datasets_default_are_the_same_protocol(tmp_path):
    from ferkit.train.experiment import keep_recorded_protocol

    (tmp_path / "recipe.json").write_text(json.dumps({"protocol": None}))
    assert keep_recorded_protocol(tiny_recipe(protocol="kfold10"), tmp_path, "kfold10").protocol is None
    assert keep_recorded_protocol(tiny_recipe(protocol="random800"), tmp_path, "kfold10").protocol == "random800"  # refused on resume
    (tmp_path / "recipe.json").write_text(json.dumps({"protocol": "kfold10"}))
    assert keep_recorded_protocol(tiny_recipe(protocol=None), tmp_path, "kfold10").protocol == "kfold10"
    assert keep_recorded_protocol(tiny_recipe(protocol=None), tmp_path / "none", "kfold10").protocol is None


def cli_train(data: str, out, *extra: str) -> int:
    return main(["train", "--recipe", "tiny-smoke-v1", "--data", data, "--out", str(out), "--quiet", "--device", "cpu", "--no-test",
                 "--set", "epochs=1", *extra])


def test_cli_resume_needs_a_last_pt_and_never_grows_folds_in_a_single_split_run(tmp_path, capsys):
    fer, ck = f"fer2013:{write_fer2013_folder(tmp_path / 'fer', per_class=2)}", f"ckplus48:{write_ckplus(tmp_path / 'ck', subjects=12)}"
    assert cli_train(fer, tmp_path / "new", "--resume") == 2
    assert f"nothing to resume in {tmp_path / 'new'}: no last.pt; drop --resume to start a new run" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()

    fer_run = tmp_path / "fer-run"
    assert cli_train(fer, fer_run) == 0
    for extra in (["--resume"], ["--fold", "0"]):
        assert cli_train(ck, fer_run, *extra) == 2
        assert f"{fer_run} holds a single-split run (last.pt, best.pt, metrics.jsonl)" in capsys.readouterr().err
    assert not (fer_run / "fold0").exists()
    assert cli_train(fer, fer_run, "--set", "epochs=2", "--resume") == 0  # growing the run itself still works
    assert cli_train(fer, fer_run, "--resume") == 2  # epochs=1 after two trained epochs
    assert f"{fer_run} has trained 2 epochs; it cannot be resumed with epochs=1" in capsys.readouterr().err
    assert json.loads((fer_run / "recipe.json").read_text())["epochs"] == 2


def test_cli_kfold_runs_resume_under_an_explicit_default_protocol_and_keep_their_directory(tmp_path, capsys):
    ck = f"ckplus48:{write_ckplus(tmp_path / 'ck', subjects=12)}"
    out = tmp_path / "ck-run"
    assert cli_train(ck, out, "--fold", "0") == 0  # protocol null: the dataset's default, kfold10
    assert cli_train(ck, out, "--fold", "0", "--protocol", "kfold10", "--set", "epochs=2", "--resume") == 0
    assert len((out / "fold0" / "metrics.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "fold0" / "recipe.json").read_text())["protocol"] is None  # as the run recorded it
    assert cli_train(ck, out, "--fold", "1", "--resume") == 2
    assert f"nothing to resume in {out}: no last.pt in {out / 'fold1'}" in capsys.readouterr().err
    assert cli_train(f"fer2013:{write_fer2013_folder(tmp_path / 'fer', per_class=2)}", out) == 2
    assert f"{out} holds k-fold runs (fold0/)" in capsys.readouterr().err
    assert sorted(path.name for path in out.iterdir()) == ["fold0"]


def test_cli_fold_on_one_split_data_and_a_bad_warm_start_leave_nothing_behind(tmp_path, capsys):
    fer = f"fer2013:{write_fer2013_folder(tmp_path / 'fer', per_class=2)}"
    assert cli_train(fer, tmp_path / "a", "--fold", "1") == 2
    assert "the data has one split under this protocol, no folds; --fold applies to k-fold protocols" in capsys.readouterr().err
    not_torch = tmp_path / "model.onnx"
    not_torch.write_bytes(b"\x08\x08\x12\x07pytorch")
    for weights in (tmp_path / "missing.pt", not_torch):
        assert cli_train(fer, tmp_path / "runs" / "b", "--set", f"init_weights={weights}") == 2
        assert "Traceback" not in capsys.readouterr().err
        assert not (tmp_path / "runs").exists()  # neither the run directory nor the parent this call created


def test_a_per_batch_schedule_resumes_only_with_the_steps_per_epoch_it_was_built_for(tmp_path):
    # Triplet and pair samplers keep a last partial batch, so their steps per epoch can change with the number of ranks;
    # one-cycle then raised in the last epoch. Here the saved count is edited to stand for such a launch.
    split, out = tiny_split(), tmp_path / "run"
    recipe = tiny_recipe(epochs=2, schedule="onecycle")
    run(recipe, split, out)
    saved = load_checkpoint(out / "last.pt")
    assert saved["steps_per_epoch"] == 1  # 12 images, batch 8, the last partial batch dropped
    saved["steps_per_epoch"] = 2
    save_checkpoint(out / "last.pt", saved)
    with pytest.raises(ConfigError, match=r"trained with 2 optimizer steps per epoch and this launch takes 1.*onecycle"):
        run(recipe, split, out, resume=True)
    del saved["steps_per_epoch"]  # a last.pt written before the count was saved resumes as before
    save_checkpoint(out / "last.pt", saved)
    assert run(recipe, split, out, resume=True).epochs_trained == 2


def train_state(gen) -> TrainState:
    model = torch.nn.Linear(2, 2)
    return TrainState(model, torch.nn.Identity(), torch.optim.SGD(model.parameters(), lr=0.1), None, np.random.default_rng(0), gen)


def test_a_generator_state_of_another_kind_of_device_is_skipped_with_a_warning():
    state = train_state(torch.Generator().manual_seed(0))
    saved = state.state_dict()
    saved["torch_gen"] = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator's state: seed and offset
    state.gen.manual_seed(1)
    fresh = state.gen.get_state()
    notes: list[str] = []
    state.load_state_dict(saved, log=notes.append)
    assert torch.equal(state.gen.get_state(), fresh) and "fresh stream" in notes[0]
    with pytest.warns(FerkitWarning, match="not bit-identical"):
        state.load_state_dict(saved)


def test_cuda_streams_of_more_gpus_than_this_machine_has_restore_those_it_has(monkeypatch):
    class CudaGenerator:  # the state of torch's CUDA generator, on a machine without CUDA
        device = torch.device("cuda")

        def get_state(self) -> torch.Tensor:
            return torch.zeros(16, dtype=torch.uint8)

        def set_state(self, state: torch.Tensor) -> None:
            self.state = state

    restored: list[list[torch.Tensor]] = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.append(list(states)))
    state = train_state(CudaGenerator())
    saved = {**train_state(torch.Generator()).state_dict(), "torch_gen": torch.ones(16, dtype=torch.uint8),
             "cuda_rng": [torch.full((16,), gpu, dtype=torch.uint8) for gpu in range(4)]}  # saved on 4 GPUs
    state.load_state_dict(saved)
    assert len(restored[0]) == 1 and torch.equal(restored[0][0], saved["cuda_rng"][0])
    assert torch.equal(state.gen.state, saved["torch_gen"])
