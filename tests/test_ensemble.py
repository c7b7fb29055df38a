"""Ensembles: averaged probabilities, one checkpoint that load_model, the Recognizer and ONNX export read."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ferkit.cli import main
from ferkit.errors import CheckpointError, ConfigError
from ferkit.models import build_model
from ferkit.artifacts import compress_weights, ensemble_checkpoint, load_checkpoint, load_model, member_checkpoint, model_state, save_checkpoint
from ferkit.models.ensemble import ProbabilityEnsemble

CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]


def write_member(path: Path, seed: int, class_names=CLASSES, in_chans: int = 1, split: str | None = None, protocol: str | None = None) -> Path:
    torch.manual_seed(seed)
    model = build_model("modified_resnet18", num_classes=len(class_names), in_chans=in_chans, dropout=0.2)
    with torch.no_grad():  # a random head gives near-uniform softmax; make the members clearly different
        model.head.weight.mul_(50)
    save_checkpoint(path, {
        "model_name": "modified_resnet18", "model_kwargs": {"dropout": 0.2}, "in_chans": in_chans, "image_size": 48,
        "class_names": list(class_names), "recipe": {"name": f"member-{seed}", "version": 1, "seed": seed, "protocol": protocol},
        "epoch": 3, "val_metric": 0.5 + seed / 100, "model": model.state_dict(), **({"split": split} if split else {}),
    })
    return path


@pytest.fixture()
def members(tmp_path) -> list[Path]:
    return [write_member(tmp_path / f"m{seed}.pt", seed) for seed in (1, 2, 3)]


def test_forward_is_log_of_mean_member_probabilities_with_gradients():
    torch.manual_seed(0)
    parts = [build_model("modified_resnet18", num_classes=7) for _ in range(2)]
    ensemble = ProbabilityEnsemble(parts).eval()
    x = torch.randn(4, 1, 48, 48, requires_grad=True)
    out = ensemble(x)
    expected = (parts[0](x).softmax(1) + parts[1](x).softmax(1)) / 2
    assert out.shape == (4, 7)
    torch.testing.assert_close(out.softmax(1), expected)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(4))
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert ensemble.forward_embedding(x).shape == (4, 2 * 512)


def test_checkpoint_round_trip_matches_the_members(members, tmp_path):
    path = save_checkpoint(tmp_path / "ens.pt", ensemble_checkpoint(members))
    loaded = load_model(path)
    assert loaded.model_name == "ensemble" and loaded.class_names == tuple(CLASSES)
    assert loaded.recipe["name"] == "ensemble(member-1-v1 + member-2-v1 + member-3-v1)"
    x = torch.rand(5, 1, 48, 48)
    with torch.no_grad():
        expected = torch.stack([load_model(m).model(x).softmax(1) for m in members]).mean(0)
        torch.testing.assert_close(loaded.model(x).softmax(1), expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(("storage", "max_size_ratio", "atol"), [("fp16", 0.6, 2e-2), ("int8", 0.3, 5e-2)])
def test_smaller_weight_storage_shrinks_the_file_and_agrees(members, tmp_path, storage, max_size_ratio, atol):
    full = save_checkpoint(tmp_path / "full.pt", ensemble_checkpoint(members))
    small = save_checkpoint(tmp_path / f"{storage}.pt", ensemble_checkpoint(members, storage=storage))
    assert small.stat().st_size < max_size_ratio * full.stat().st_size
    x = torch.rand(3, 1, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(load_model(small).model(x).softmax(1), load_model(full).model(x).softmax(1), atol=atol, rtol=0)


def test_int8_weights_round_trip_to_a_hand_computed_grid():
    w = torch.zeros(4, 256)
    w[0, 0], w[0, 1], w[0, 2] = 2.54, -1.0, 0.011  # row 0: scale 2.54 / 127 = 0.02
    w[2] = 0.5  # row 2: scale 0.5 / 127, every value exactly 127 steps
    weights, scales = compress_weights({"conv.weight": w, "bn.bias": torch.ones(4), "steps": torch.tensor(3)}, "int8")
    assert weights["conv.weight"].dtype == torch.int8 and weights["bn.bias"].dtype == torch.float16 and weights["steps"].dtype == torch.int64
    assert weights["conv.weight"][0, :3].tolist() == [127, -50, 1] and weights["conv.weight"][1].abs().sum() == 0
    state = model_state({"model": weights, "model_scales": scales})
    assert state["conv.weight"].dtype == torch.float32 and state["steps"].item() == 3
    torch.testing.assert_close(state["conv.weight"][0, :3], torch.tensor([2.54, -1.0, 0.02]))  # 0.011 rounds to one step
    torch.testing.assert_close(state["conv.weight"][2], torch.full((256,), 0.5))
    with pytest.raises(CheckpointError, match="storage"):
        compress_weights({}, "int4")


def test_transfer_from_an_int8_checkpoint_reads_the_scaled_weights(members, tmp_path):
    from ferkit.train.transfer import load_init_weights

    path = save_checkpoint(tmp_path / "int8.pt", ensemble_checkpoint(members, storage="int8"))
    model = ProbabilityEnsemble([build_model("modified_resnet18", num_classes=7, dropout=0.2) for _ in members])
    report = load_init_weights(model, path)
    assert not report.missing
    expected = load_model(path).model.state_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[key])


def test_members_must_agree_and_be_plain_models(members, tmp_path):
    other = write_member(tmp_path / "other.pt", 4, class_names=CLASSES[:6])
    with pytest.raises(CheckpointError, match="class_names"):
        ensemble_checkpoint([members[0], other])
    rgb = write_member(tmp_path / "rgb.pt", 5, in_chans=3)
    with pytest.raises(CheckpointError, match="in_chans"):
        ensemble_checkpoint([members[0], rgb])
    with pytest.raises(ConfigError, match="at least two"):
        ensemble_checkpoint(members[:1])
    with pytest.raises(CheckpointError, match="not found"):
        ensemble_checkpoint([members[0], tmp_path / "missing.pt"])
    nested = save_checkpoint(tmp_path / "ens.pt", ensemble_checkpoint(members[:2]))
    with pytest.raises(CheckpointError, match="already an ensemble"):
        ensemble_checkpoint([nested, members[2]])
    with pytest.raises(ConfigError, match="members"):
        build_model("ensemble", num_classes=7)


def test_members_trained_on_different_splits_are_refused(tmp_path, capsys):
    """Fold 1's member trained on fold 0's test subjects: an ensemble of the two scored on fold 0 would leak."""
    fold0, fold1 = write_member(tmp_path / "f0.pt", 1, split="fold0"), write_member(tmp_path / "f1.pt", 2, split="fold1")
    with pytest.raises(CheckpointError, match=r"trained on different splits \(.*f0.pt: fold0, .*f1.pt: fold1\)"):
        ensemble_checkpoint([fold0, fold1])
    assert main(["ensemble", str(fold0), str(fold1), "--out", str(tmp_path / "e.pt")]) == 2
    assert "different splits" in capsys.readouterr().err and not (tmp_path / "e.pt").exists()
    other_draw = write_member(tmp_path / "f0-seed2.pt", 2, split="fold0")  # the folds are drawn with the recipe's seed
    with pytest.raises(CheckpointError, match="fold0 drawn with different seeds or protocols"):
        ensemble_checkpoint([fold0, other_draw])


def test_members_of_one_split_keep_it_with_the_protocol_and_seed_that_drew_it(tmp_path):
    fold0 = [write_member(tmp_path / "a.pt", 1, split="fold0"), write_member(tmp_path / "b.pt", 1, split="fold0", protocol="kfold10")]
    payload = ensemble_checkpoint(fold0)
    assert payload["split"] == "fold0" and [m["split"] for m in payload["members"]] == ["fold0", "fold0"]
    assert payload["recipe"]["protocol"] == "kfold10" and payload["recipe"]["seed"] == 1  # evaluate rebuilds the same folds
    seeds = ensemble_checkpoint([write_member(tmp_path / f"fer{seed}.pt", seed, split="fer2013") for seed in (1, 2)])
    assert seeds["split"] == "fer2013" and "seed" not in seeds["recipe"]  # seeds of a fixed split: the usual ensemble


def test_the_shipped_ensembles_members_share_one_split_and_ensemble_again(tmp_path):
    from ferkit.weights import default_model_path

    shipped = load_checkpoint(default_model_path())
    members = [member_checkpoint(default_model_path(), index) for index in range(len(shipped["model_kwargs"]["members"]))]
    assert shipped["split"] == "fer2013" and {member["split"] for member in members} == {"fer2013"}
    again = ensemble_checkpoint([save_checkpoint(tmp_path / f"m{index}.pt", member) for index, member in enumerate(members)])
    assert again["split"] == "fer2013" and [m["split"] for m in again["members"]] == ["fer2013"] * len(members)


def test_ensemble_cli_then_recognizer_and_onnx(members, tmp_path, capsys):
    from ferkit.evaluate.predict import predict_probabilities
    from ferkit.artifacts import load_onnx
    from ferkit.export import export_model
    from ferkit.recognizer import Recognizer

    out = tmp_path / "ens.pt"
    assert main(["ensemble", *map(str, members), "--out", str(out), "--half"]) == 0
    assert "ensemble(member-1-v1" in capsys.readouterr().out
    assert main(["ensemble", *map(str, members), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    faces = np.random.default_rng(0).integers(0, 255, (6, 48, 48)).astype(np.uint8)
    reference = predict_probabilities(load_model(out).model, faces)
    onnx_model = load_onnx(export_model(out, tmp_path / "ens.onnx", "onnx"))
    np.testing.assert_allclose(predict_probabilities(onnx_model.model, faces), reference, atol=1e-4)
    result = Recognizer(out, detector="none", tta="none").predict(faces[0])
    assert len(result.faces) == 1
    np.testing.assert_allclose(list(result.faces[0].probabilities.values()), reference[0], atol=1e-4)


def test_member_subset_choice_prefers_accuracy_then_fewer_members_and_respects_the_size_cap():
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from ship_default_model import choose_subset

    labels = np.array([0, 1, 2, 0])
    one_hot = np.eye(3)[[0, 1, 2, 0]]
    # a and b are each right on 3 of 4 and wrong on different samples; c equals a (adds nothing)
    a = one_hot.copy(); a[1] = [0.6, 0.4, 0.0]
    b = one_hot.copy(); b[2] = [0.0, 0.6, 0.4]
    c = a.copy()
    best, scored = choose_subset([a, b, c], labels)
    assert best == (0, 1)  # the pair is right on all 4; {a, b, c} is not better, {a, c} is a with a copy
    assert {tuple(r["members"]): r["val_accuracy"] for r in scored}[(0, 1)] == 1.0
    assert len(scored) == 7
    best, scored = choose_subset([a, b, c], labels, max_members=1)
    assert best == (0,) and len(scored) == 3  # ties between a, b and c go to the first
