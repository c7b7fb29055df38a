"""ferkit.artifacts: files written before the layer existed still load; load_any tells every kind apart by its tag."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from ferkit.artifacts import (
    ARTIFACT_KINDS,
    CHECKPOINT_FORMAT,
    compress_weights,
    ensemble_checkpoint,
    load_any,
    load_checkpoint,
    load_model,
    model_input_array,
    read_init_weights,
    save_checkpoint,
    to_model_input,
)
from ferkit.errors import CheckpointError, ConfigError
from ferkit.evaluate.predict import predict_probabilities
from ferkit.models import build_model

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy"
CLASSES = ("anger", "happiness", "sadness")
TINY = {"model_name": "fer_resnet10_s2", "model_kwargs": {"width": 8}}


def probe_images() -> np.ndarray:
    """The inputs of tests/fixtures/legacy/expected.json (make_legacy_fixtures.probe_images)."""
    return np.random.default_rng(20261130).integers(0, 256, (6, 48, 48), dtype=np.uint8)


def tiny_payload(seed: int = 0, **extra) -> dict:
    torch.manual_seed(seed)
    model = build_model(TINY["model_name"], num_classes=len(CLASSES), in_chans=1, **TINY["model_kwargs"])
    return {**TINY, "model": model.state_dict(), "class_names": list(CLASSES), "in_chans": 1, "image_size": 48,
            "recipe": {"name": "tiny", "version": 1, "seed": seed}, "split": "tiny", **extra}


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> dict[str, Path]:
    """One file of every kind: checkpoint, ensemble, embedding pipeline, ONNX."""
    from ferkit.classifiers import EmbeddingPipeline, fit_classifiers
    from ferkit.evaluate.predict import predict_embeddings
    from ferkit.export import export_model

    root = tmp_path_factory.mktemp("artifacts")
    members = [save_checkpoint(root / f"m{seed}.pt", tiny_payload(seed)) for seed in (0, 1)]
    ensemble = save_checkpoint(root / "ensemble.pt", ensemble_checkpoint(members, storage="fp16"))
    network = load_model(members[0]).model
    kwargs = {"num_classes": len(CLASSES), "in_chans": 1, **TINY["model_kwargs"]}
    images = probe_images()
    classifier = fit_classifiers(predict_embeddings(network, images), np.arange(len(images)) % 3, ["nearest_centroid"])["nearest_centroid"]
    pipeline = EmbeddingPipeline(network, classifier, CLASSES, model_name=TINY["model_name"], model_kwargs=kwargs, classifier_name="nearest_centroid")
    return {"checkpoint": members[0], "member1": members[1], "ensemble": ensemble, "pipeline": pipeline.save(root / "pipeline.pt"),
            "onnx": export_model(members[0], root / "model.onnx", "onnx")}


@pytest.mark.parametrize("name, kind", [("single_fp16.pt", "checkpoint"), ("ensemble_int8.pt", "ensemble")])
def test_checkpoints_written_before_the_artifact_layer_predict_as_then(name, kind):
    expected = json.loads((LEGACY / "expected.json").read_text())[name]
    loaded = load_any(LEGACY / name)
    assert (loaded.kind, loaded.model_name, list(loaded.class_names)) == (kind, expected["model_name"], expected["class_names"])
    probs = predict_probabilities(loaded.model, probe_images(), in_chans=loaded.in_chans, image_size=loaded.image_size)
    np.testing.assert_allclose(probs, np.array(expected["probabilities"]), atol=2e-6, rtol=0)
    assert load_model(LEGACY / name).class_names == loaded.class_names


def test_the_shipped_default_model_loads_through_load_any():
    from ferkit.weights import default_model_path

    loaded = load_any(default_model_path())
    assert loaded.kind == "ensemble" and loaded.model_name == "ensemble"
    assert len(loaded.class_names) == 7 and (loaded.in_chans, loaded.image_size) == (1, 48)
    probs = predict_probabilities(loaded.model, probe_images()[:2], in_chans=1, image_size=48)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_save_keeps_every_key_and_today_s_readers_can_read_the_file(tmp_path):
    extra = {"optimizer": {"state": {}, "param_groups": []}, "numpy_rng": np.random.default_rng(0).bit_generator.state,
             "torch_gen": torch.Generator().manual_seed(0).get_state(), "epoch": 3, "best_val": 0.5, "history": [{"epoch": 1}],
             "val_metric": np.float64(0.25), "legacy_rng": np.random.RandomState(0).get_state()}  # numpy values read back too
    path = save_checkpoint(tmp_path / "last.pt", {"format": "stale", **tiny_payload(), **extra})
    raw = torch.load(path, weights_only=False)  # what ferkit's readers before this layer did
    assert raw["format"] == CHECKPOINT_FORMAT == "ferkit-checkpoint-v1" and next(iter(raw)) == "format"
    payload = load_checkpoint(path)
    assert set(payload) == {"format", *tiny_payload(), *extra}
    assert payload["numpy_rng"] == extra["numpy_rng"] and torch.equal(payload["torch_gen"], extra["torch_gen"])
    assert payload["val_metric"] == 0.25 and np.array_equal(payload["legacy_rng"][1], extra["legacy_rng"][1])
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file and a rename


def test_save_refuses_a_payload_that_could_not_be_rebuilt(tmp_path):
    payload = tiny_payload()
    del payload["class_names"]
    with pytest.raises(CheckpointError, match=r"lacks \['class_names'\]"):
        save_checkpoint(tmp_path / "x.pt", payload)
    assert not (tmp_path / "x.pt").exists()


def test_save_refuses_what_the_reader_would_refuse_and_keeps_the_file_it_would_replace(tmp_path, monkeypatch):
    """A Path in the recipe was written over a good file, which load_any then refused as "not written by ferkit"."""
    good = tmp_path / "keep.pt"
    save_checkpoint(good, tiny_payload())
    before = good.read_bytes()
    with pytest.raises(CheckpointError, match=r"not writing .*keep.pt: it would hold Python objects .*PosixPath"):
        save_checkpoint(good, tiny_payload(recipe={"name": "x", "data": Path("/d")}))
    for field, value in (("in_chans", "one"), ("image_size", 0), ("class_names", []), ("model_name", 3)):
        with pytest.raises(CheckpointError, match=f"fields of the wrong type or range: {field}="):
            save_checkpoint(good, {**tiny_payload(), field: value})
    assert good.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["keep.pt"]  # no temporary file left
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert save_checkpoint("~/m.pt", tiny_payload()) == tmp_path / "home" / "m.pt"  # ~ expanded, not a ./~ folder
    assert load_any("~/m.pt").class_names == tuple(CLASSES)


def test_load_any_dispatches_on_the_tag_whatever_the_file_name(tiny_files, tmp_path):
    from ferkit.classifiers import EmbeddingPipeline

    images = probe_images()
    kinds = {}
    for kind, path in tiny_files.items():
        renamed = tmp_path / f"{kind}.bin"  # no suffix to go by
        renamed.write_bytes(path.read_bytes())
        kinds[kind] = load_any(renamed)
        assert kinds[kind].path == renamed
    assert {k: v.kind for k, v in kinds.items()} == {"checkpoint": "checkpoint", "member1": "checkpoint", "ensemble": "ensemble",
                                                      "pipeline": "pipeline", "onnx": "onnx"}
    assert {loaded.kind for loaded in kinds.values()} == set(ARTIFACT_KINDS)
    single = predict_probabilities(kinds["checkpoint"].model, images)
    np.testing.assert_allclose(predict_probabilities(kinds["onnx"].model, images), single, atol=1e-4)
    members = np.mean([single, predict_probabilities(kinds["member1"].model, images)], axis=0)
    np.testing.assert_allclose(predict_probabilities(kinds["ensemble"].model, images), members, atol=1e-2)  # fp16 weights
    pipeline = EmbeddingPipeline.from_loaded(kinds["pipeline"])
    assert pipeline.classifier_name == "nearest_centroid" and pipeline.class_names == CLASSES
    np.testing.assert_array_equal(pipeline.predict(images), EmbeddingPipeline.load(tiny_files["pipeline"]).predict(images))


def _truncated(path: Path, out: Path) -> Path:
    out.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return out


class NotATensor:
    pass


@pytest.mark.parametrize("write, message", [
    (lambda p, files: p.write_text("just some notes\n"), "neither a ferkit checkpoint or pipeline .* nor an ONNX model"),
    (lambda p, files: p.write_bytes(b""), "neither a ferkit checkpoint"),
    (lambda p, files: _truncated(files["checkpoint"], p), "damaged or truncated"),
    (lambda p, files: torch.save({"format": "someone-else-v3", "model": {}}, p), "not a ferkit model file .* format tag 'someone-else-v3'"),
    (lambda p, files: torch.save({**tiny_payload(), "format": "ferkit-checkpoint-v2"}, p), "'ferkit-checkpoint-v2'.* another ferkit version"),
    (lambda p, files: torch.save(build_model("fer_resnet10_s2", num_classes=3, width=8).state_dict(), p), "no format tag .* initial weights"),
    (lambda p, files: torch.save({"format": CHECKPOINT_FORMAT, "model": {}}, p), "checkpoint lacks"),
    (lambda p, files: torch.save([1, 2], p), "holds a list"),
    (lambda p, files: torch.save({"format": CHECKPOINT_FORMAT, "x": NotATensor()}, p), "other than tensors and plain values"),
    (lambda p, files: p.write_bytes(b"\x08\x07garbage that is no protobuf"), "cannot load ONNX model"),
])
def test_load_any_refuses_other_files_with_a_clear_error(tiny_files, tmp_path, write, message):
    path = tmp_path / "model.pt"
    write(path, tiny_files)
    with pytest.raises(CheckpointError, match=message):
        load_any(path)


def test_missing_files_and_wrong_readers_say_what_to_do(tiny_files, tmp_path):
    from ferkit.classifiers import EmbeddingPipeline

    with pytest.raises(CheckpointError, match="not found"):
        load_any(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="is a ferkit embedding pipeline; read it with ferkit.artifacts.load_any"):
        load_model(tiny_files["pipeline"])
    with pytest.raises(CheckpointError, match="not a ferkit embedding pipeline: it is a ferkit checkpoint"):
        EmbeddingPipeline.load(tiny_files["ensemble"])
    with pytest.raises(ConfigError, match="is a checkpoint, not an embedding pipeline"):
        EmbeddingPipeline.from_loaded(load_any(tiny_files["checkpoint"]))
    with pytest.raises(ConfigError, match="ONNX Runtime on the CPU"):
        load_any(tiny_files["onnx"], device=torch.device("meta"))
    weights = read_init_weights(tiny_files["checkpoint"])
    assert weights.class_names == CLASSES and set(weights.state) == set(tiny_payload()["model"])


def test_weights_that_do_not_fit_their_model_name(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({**tiny_payload(), "format": CHECKPOINT_FORMAT, "model_kwargs": {"width": 16}}, path)
    with pytest.raises(CheckpointError, match="weights do not fit model 'fer_resnet10_s2'"):
        load_any(path)
    torch.save({**tiny_payload(), "format": CHECKPOINT_FORMAT, "model_name": "no_such_net"}, path)
    with pytest.raises(CheckpointError, match="cannot rebuild model 'no_such_net'"):
        load_any(path)


def test_int8_init_weights_come_back_in_fp32_with_their_labels(tmp_path):
    payload = tiny_payload()
    weights, scales = compress_weights(payload["model"], "int8")
    path = save_checkpoint(tmp_path / "int8.pt", {**payload, "model": weights, "model_scales": scales})
    init = read_init_weights(path)
    conv = "backbone.layer4.0.conv2.weight"
    assert scales and conv in scales and init.state[conv].dtype == torch.float32
    torch.testing.assert_close(init.state[conv], payload["model"][conv], atol=float(scales[conv].max()), rtol=0)
    plain = tmp_path / "plain.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in payload["model"].items()}}, plain)
    assert read_init_weights(plain).class_names is None and conv in read_init_weights(plain).state


@pytest.mark.parametrize("in_chans, size", [(1, 48), (3, 48), (1, 64)])
def test_torch_and_numpy_model_inputs_agree(in_chans, size):
    crops = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    x = to_model_input(torch.from_numpy(crops), in_chans, size).numpy()
    y = model_input_array(crops, in_chans, size)
    assert x.shape == y.shape == (4, in_chans, size, size) and y.dtype == np.float32
    assert -1.0 <= y.min() and y.max() <= 1.0
    np.testing.assert_allclose(x, y, atol=1e-6 if size == 48 else 0.02)  # resizing: OpenCV vs torch bilinear


def test_pickled_classifier_failures_are_checkpoint_errors(tiny_files, tmp_path):
    payload = torch.load(tiny_files["pipeline"], weights_only=True)
    torch.save({**payload, "classifier_pickle": pickle.dumps("not an estimator")[:5]}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="cannot unpickle the classifier"):
        load_any(tmp_path / "bad.pt")


@pytest.mark.parametrize("crops, message", [
    (np.zeros((2, 48, 48, 3), np.uint8), r"gray face crops \(N, H, W\) uint8 in 0-255, got shape \(2, 48, 48, 3\) uint8"),
    (np.full((2, 48, 48), 0.5, np.float32), r"got shape \(2, 48, 48\) float32"),
    (torch.zeros(2, 48, 48, dtype=torch.uint8), "model_input_array takes a numpy ndarray, got Tensor; use to_model_input"),
])
def test_model_input_refuses_colour_float_and_other_array_kinds(crops, message):
    """A colour batch came back 5-D and float crops in [0, 1] were divided by 255 again (all near -1), silently."""
    from ferkit.artifacts.preprocess import model_input_array, to_model_input

    with pytest.raises(ConfigError, match=message):
        model_input_array(crops)
    if isinstance(crops, np.ndarray):
        with pytest.raises(ConfigError, match="to_model_input"):
            to_model_input(torch.from_numpy(crops))


def test_small_api_mistakes_get_one_clear_line(tmp_path):
    """None as a path, a single path as an ensemble's member list, non-numeric ONNX metadata, batch_size 0: each
    raised a TypeError, a misleading "/ is a folder", a bare ValueError or a ValueError from range before."""
    import onnx

    from ferkit.artifacts import ensemble_checkpoint, load_model
    from ferkit.evaluate.predict import predict_probabilities
    from ferkit.export import onnx_bytes

    for call in (lambda: load_model(None), lambda: load_checkpoint(None)):
        with pytest.raises(ConfigError, match="path must be a str or Path, got NoneType"):
            call()
    with pytest.raises(ConfigError, match="paths must be a list of member checkpoint files, got 'a.pt'"):
        ensemble_checkpoint("a.pt")
    save_checkpoint(tmp_path / "m.pt", tiny_payload())
    proto = onnx.load_from_string(onnx_bytes(load_any(tmp_path / "m.pt")))
    next(p for p in proto.metadata_props if p.key == "in_chans").value = "x"
    (tmp_path / "m.onnx").write_bytes(proto.SerializeToString())
    with pytest.raises(CheckpointError, match="metadata in_chans='x'"):
        load_any(tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="batch_size must be >= 1, got 0"):
        predict_probabilities(load_any(tmp_path / "m.pt").model, np.zeros((2, 48, 48), np.uint8), batch_size=0)


def test_a_torchscript_export_is_named_with_what_to_pass_instead_and_no_torch_warning(tiny_files, tmp_path):
    """Found by an audit: ferkit's own TorchScript export was "damaged or truncated", behind a torch UserWarning."""
    import warnings

    from ferkit.export import export_model

    scripted = export_model(tiny_files["checkpoint"], tmp_path / "a.pt", "torchscript")
    source = str(Path(tiny_files["checkpoint"]).resolve())
    readers = (load_any, load_model, load_checkpoint, read_init_weights, lambda path: ensemble_checkpoint([path, tiny_files["member1"]]))
    for read in readers:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch's "looks like a TorchScript archive" warning must not reach the user
            with pytest.raises(CheckpointError) as info:
                read(scripted)
        message = str(info.value)
        assert "is a TorchScript export (`ferkit export --format torchscript`)" in message and "damaged" not in message
        assert f"pass the checkpoint it was exported from ({source}), or, to predict or evaluate, an ONNX export" in message


def test_an_onnx_file_given_where_a_pytorch_file_is_needed_says_so(tiny_files):
    """Found by an audit: export, evaluate and ensemble said "not a PyTorch file (it starts with b'\\x08\\x08...')"."""
    for read in (load_model, load_checkpoint, read_init_weights, lambda path: ensemble_checkpoint([path, tiny_files["member1"]])):
        with pytest.raises(CheckpointError, match=r"model\.onnx is an ONNX model \(as `ferkit export` writes\), not a PyTorch .*: "
                                                  r"pass the PyTorch checkpoint \(\.pt\) it was exported from"):
            read(tiny_files["onnx"])


def test_an_onnx_export_keeps_the_checkpoints_split_and_training_record(tmp_path):
    from ferkit.export import export_model

    record = {"train_size": 3, "data_fingerprint": {"class_names": list(CLASSES), "samples": "ab" * 32, "images": "cd" * 32, "image_means": "00" * 12}}
    payload = tiny_payload(split="fold3", **record)
    payload["recipe"].update(protocol="kfold10", seed=5)
    checkpoint = save_checkpoint(tmp_path / "m.pt", payload)
    exported = load_any(export_model(checkpoint, tmp_path / "m.onnx"))
    assert (exported.kind, exported.split, exported.recipe) == ("onnx", "fold3", {"name": "tiny", "version": 1, "protocol": "kfold10", "seed": 5})
    assert exported.trained_on == {"train_size": 3, "data_fingerprint": {key: record["data_fingerprint"][key] for key in ("class_names", "samples", "images")}}
    assert load_any(checkpoint).trained_on == record
