"""Classifiers over embeddings, the saved embedding pipeline, and a tiny triplet run that must overfit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ferkit.classifiers import CLASSIFIERS, EmbeddingPipeline, build_classifier, classifier_scores, fit_classifiers, score_classifiers
from ferkit.errors import CheckpointError, ConfigError, ImageReadError
from ferkit.evaluate.predict import predict_embeddings
from ferkit.losses.mined_triplet import MinedTripletCriterion
from ferkit.models import build_model

MODEL_KWARGS = {"num_classes": 3, "embedding_dim": 128, "normalize_embedding": True}


def _blobs(n_per_class: int, seed: int, dim: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated clusters on the unit sphere, like triplet-trained embeddings."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:3] * 3.0
    x = np.concatenate([c + 0.3 * rng.standard_normal((n_per_class, dim)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.repeat(np.arange(3), n_per_class)


def _images(n: int, seed: int, size: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


def test_every_classifier_fits_separable_data() -> None:
    x_train, y_train = _blobs(20, 0)
    x_test, y_test = _blobs(10, 1)
    fitted = fit_classifiers(x_train, y_train, list(CLASSIFIERS))
    scores = score_classifiers(fitted, x_test, y_test)
    assert set(scores) == set(CLASSIFIERS)
    for name, result in scores.items():
        assert result["accuracy"] == 1.0 and result["macro_f1"] == 1.0, name
        s = classifier_scores(fitted[name], x_test, 3)
        assert s.shape == (30, 3) and np.isfinite(s).all()
        np.testing.assert_array_equal(s.argmax(1), fitted[name].predict(x_test))


def test_scores_for_classes_missing_from_training() -> None:
    x, y = _blobs(10, 2)
    keep = y != 1
    fitted = fit_classifiers(x[keep], y[keep], ["svm_linear", "lda"])
    for est in fitted.values():  # binary classifiers, scored in a 4-class label space
        s = classifier_scores(est, x, 4)
        assert s.shape == (30, 4)
        assert (s[:, [1, 3]].max(1) < s[:, [0, 2]].min(1)).all()
        np.testing.assert_array_equal(s.argmax(1), est.predict(x))


def test_classifier_errors() -> None:
    with pytest.raises(ConfigError, match="svm_linear"):
        build_classifier("svm")
    x, y = _blobs(5, 3)
    with pytest.raises(ConfigError, match="labels"):
        fit_classifiers(x, y[:-1], ["lda"])
    with pytest.raises(ConfigError, match="2 classes"):
        fit_classifiers(x, np.zeros(len(x), np.int64), ["lda"])
    with pytest.raises(ConfigError, match="unknown classifier"):
        fit_classifiers(x, y, ["lda", "tree"])


def test_fernet_embeddings_are_unit_norm() -> None:
    torch.manual_seed(0)
    model = build_model("modified_resnet18", **MODEL_KWARGS).eval()
    with torch.no_grad():
        z = model.forward_embedding(torch.randn(4, 1, 48, 48))
    assert z.shape == (4, 128)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(4))


def _pipeline(seed: int = 0) -> tuple[EmbeddingPipeline, np.ndarray]:
    torch.manual_seed(seed)
    model = build_model("modified_resnet18", **MODEL_KWARGS)
    images = _images(12, seed)
    labels = np.arange(12) % 3
    classifier = fit_classifiers(predict_embeddings(model, images), labels, ["svm_linear"])["svm_linear"]
    pipe = EmbeddingPipeline(model, classifier, ("angry", "happy", "sad"), model_name="modified_resnet18", model_kwargs=MODEL_KWARGS, classifier_name="svm_linear")
    return pipe, images


def test_pipeline_round_trip(tmp_path) -> None:
    pipe, images = _pipeline()
    labels = pipe.predict(images)
    np.testing.assert_array_equal(labels, np.arange(12) % 3)  # 12 points in 128-D: separable
    path = pipe.save(tmp_path / "pipe.pt")
    loaded = EmbeddingPipeline.load(path)
    assert loaded.class_names == ("angry", "happy", "sad") and loaded.in_chans == 1 and loaded.image_size == 48
    np.testing.assert_array_equal(loaded.predict(images), labels)
    np.testing.assert_allclose(loaded.predict_scores(images), pipe.predict_scores(images), rtol=1e-5, atol=1e-6)
    assert loaded.predict_scores(images).shape == (12, 3)
    with pytest.raises(ConfigError, match="already exists"):
        pipe.save(path)
    pipe.save(path, overwrite=True)


def test_pipeline_three_channel_model_and_bad_images() -> None:
    torch.manual_seed(0)
    kwargs = {**MODEL_KWARGS, "in_chans": 3}
    model = build_model("modified_resnet18", **kwargs)
    images = _images(6, 1)
    clf = fit_classifiers(np.random.default_rng(0).standard_normal((6, 128)), np.arange(6) % 3, ["nearest_centroid"])["nearest_centroid"]
    pipe = EmbeddingPipeline(model, clf, ("a", "b", "c"), model_name="modified_resnet18", model_kwargs=kwargs)
    assert pipe.predict(images).shape == (6,)
    assert pipe.predict(_images(2, 2, size=96)).shape == (2,)  # resized to 48
    with pytest.raises(ImageReadError):
        pipe.predict(images.astype(np.float32))
    with pytest.raises(ConfigError, match="not fitted"):
        EmbeddingPipeline(model, build_classifier("lda"), ("a", "b", "c"), model_name="modified_resnet18", model_kwargs=kwargs)


def test_pipeline_load_errors(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        EmbeddingPipeline.load(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a torch file" * 10)
    with pytest.raises(CheckpointError, match="cannot read"):
        EmbeddingPipeline.load(corrupt)
    other = tmp_path / "other.pt"
    torch.save({"model": {}}, other)
    with pytest.raises(CheckpointError, match="not a ferkit embedding pipeline"):
        EmbeddingPipeline.load(other)
    pipe, _ = _pipeline()
    path = pipe.save(tmp_path / "pipe.pt")
    payload = torch.load(path, weights_only=True)
    for change, match in (({"model_kwargs": {**MODEL_KWARGS, "embedding_dim": 64}}, "do not fit"), ({"classifier_pickle": b"garbage"}, "unpickle"), ({"version": 99}, "version"), ({"class_names": ["a"]}, "inconsistent")):
        torch.save({**payload, **change}, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match=match):
            EmbeddingPipeline.load(tmp_path / "bad.pt")


def test_tiny_triplet_run_overfits() -> None:
    torch.manual_seed(0)
    images = torch.from_numpy(_images(24, 7))
    labels = torch.arange(24) % 3
    x = (images.unsqueeze(1).float() / 255 - 0.5) / 0.5
    model = build_model("modified_resnet18", **MODEL_KWARGS)
    criterion = MinedTripletCriterion(margin=1.0, miner="batch_all")  # unit-norm: distances in [0, 2]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(24):
        embeddings, logits = model.forward_both(x)
        loss, _ = criterion(embeddings, logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    model.eval()
    with torch.no_grad():
        emb = model.forward_embedding(x).numpy()
    fitted = fit_classifiers(emb, labels.numpy(), ["svm_linear"])
    assert score_classifiers(fitted, emb, labels.numpy())["svm_linear"]["accuracy"] == 1.0


def test_classifier_inputs_are_checked_not_silently_recast():
    """Labels 0.9/1.8 were cast to 0/1 (three classes became two); NaN, string labels, a feature-count mismatch and
    an unfitted estimator reached scikit-learn or numpy."""
    from ferkit.classifiers import build_classifier, classifier_scores, fit_classifiers
    from ferkit.errors import ConfigError

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 8)), np.arange(30) % 3
    with pytest.raises(ConfigError, match=r"labels must be class indices \(ints >= 0\), got float64 values such as \[0.0, 0.9, 1.8\]"):
        fit_classifiers(x, y * 0.9, ["lda"])
    with pytest.raises(ConfigError, match="got <U5 values"):
        fit_classifiers(x, np.array(["happy", "sad", "fear"] * 10), ["lda"])
    with pytest.raises(ConfigError, match=r"NaN or inf in 1 row\(s\) \(first: \[4\]\)"):
        fit_classifiers(np.where(np.arange(30)[:, None] == 4, np.nan, x), y, ["lda"])
    assert fit_classifiers(x, y.astype(float), ["lda"])["lda"].classes_.tolist() == [0, 1, 2]  # whole floats are fine
    fitted = fit_classifiers(x, y, ["lda"])["lda"]
    with pytest.raises(ConfigError, match="embeddings have 5 features; the classifier was fitted on 8"):
        classifier_scores(fitted, x[:, :5], 3)
    with pytest.raises(ConfigError, match="is not fitted"):
        classifier_scores(build_classifier("lda"), x, 3)


def test_a_pipeline_that_could_not_predict_or_load_again_is_refused(tmp_path) -> None:
    """A classifier fitted on other-sized embeddings, model_kwargs that do not rebuild the network, device="gpu" and a
    folder as the file all failed later inside scikit-learn or torch (or wrote a file that never loaded)."""
    pipe, _ = _pipeline()
    eight_d = fit_classifiers(np.random.default_rng(0).standard_normal((12, 8)), np.arange(12) % 3, ["lda"])["lda"]
    with pytest.raises(ConfigError, match="fitted on 8-D embeddings and the network makes 128-D ones"):
        EmbeddingPipeline(pipe.model, eight_d, pipe.class_names, model_name="modified_resnet18", model_kwargs=MODEL_KWARGS)
    with pytest.raises(ConfigError, match="device 'gpu'|device must be|no device"):
        EmbeddingPipeline(pipe.model, pipe.classifier, pipe.class_names, model_name="modified_resnet18", model_kwargs=MODEL_KWARGS, device="gpu")
    wrong = EmbeddingPipeline(pipe.model, pipe.classifier, pipe.class_names, model_name="modified_resnet18",
                              model_kwargs={**MODEL_KWARGS, "channels": [16, 16, 16, 16]})
    with pytest.raises(ConfigError, match="does not rebuild this network"):
        wrong.save(tmp_path / "p.pt")
    with pytest.raises(ConfigError, match="is a folder; give a file name"):
        pipe.save(tmp_path, overwrite=True)
    assert list(tmp_path.iterdir()) == []
