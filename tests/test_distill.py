"""Distillation: the loss against a hand computation, the teacher signals, and a run that learns from a teacher."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from ferkit.data.registry import ExperimentSplit
from ferkit.errors import ConfigError
from ferkit.losses import build_loss
from ferkit.losses.distill import Distillation
from ferkit.artifacts import load_model, to_model_input
from ferkit.train.loop import train
from test_train import tiny_dataset, tiny_recipe


def test_distill_loss_matches_hand_computation():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    teacher = torch.tensor([[0.0, 1.0, 0.0]])
    labels = torch.tensor([0])
    t, alpha = 2.0, 0.25
    loss, parts = Distillation(temperature=t, alpha=alpha)(torch.zeros(1, 4), logits, labels, teacher_logits=teacher)

    def softmax(v):
        e = [math.exp(x) for x in v]
        return [x / sum(e) for x in e]

    ce = -math.log(softmax([2.0, 0.0, -1.0])[0])
    p_teacher, p_student = softmax([0.0, 0.5, 0.0]), softmax([1.0, 0.0, -0.5])
    kl = sum(p * math.log(p / q) for p, q in zip(p_teacher, p_student))
    assert parts["ce"] == pytest.approx((1 - alpha) * ce, rel=1e-5)
    assert parts["distill"] == pytest.approx(alpha * t * t * kl, rel=1e-5)
    assert float(loss) == pytest.approx((1 - alpha) * ce + alpha * t * t * kl, rel=1e-5)


def test_distill_loss_is_zero_kl_when_student_equals_teacher_and_checks_inputs():
    logits = torch.randn(5, 7)
    _, parts = Distillation(alpha=1.0)(torch.zeros(5, 2), logits, torch.zeros(5, dtype=torch.long), teacher_logits=logits.clone())
    assert parts["distill"] == pytest.approx(0.0, abs=1e-6) and parts["ce"] == 0.0
    with pytest.raises(ConfigError, match="teacher"):
        Distillation()(torch.zeros(5, 2), logits, torch.zeros(5, dtype=torch.long))
    with pytest.raises(ConfigError, match="alpha"):
        build_loss("distill", num_classes=7, embedding_dim=0, class_counts=[1] * 7, alpha=1.5)
    with pytest.raises(ConfigError, match="teacher_mode"):
        build_loss("distill", num_classes=7, embedding_dim=0, class_counts=[1] * 7, teacher_mode="sometimes")


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory):
    """A small network trained on the tiny set: the teacher of the runs below."""
    data = tiny_dataset()
    out = tmp_path_factory.mktemp("teacher") / "run"
    result = train(tiny_recipe(epochs=30), ExperimentSplit("tiny", data, data, data), out, progress=False, log=lambda s: None)
    assert result.best_val == 1.0
    return result.best_path


@pytest.mark.parametrize("mode", ["cached", "online"])
def test_student_learns_from_teacher_alone(tmp_path, tiny_teacher, mode):
    """alpha = 1: the hard labels are never seen, so the student can only reach 100% by copying the teacher."""
    data = tiny_dataset()
    recipe = tiny_recipe(epochs=15, loss="distill", loss_kwargs={"teacher": str(tiny_teacher), "teacher_mode": mode, "alpha": 1.0, "temperature": 1.0})
    logs = []
    result = train(recipe, ExperimentSplit("tiny", data, data, data), tmp_path / "student", progress=False, log=logs.append)
    assert result.history[-1]["train_distill"] < 0.1 * result.history[0]["train_distill"]
    # The student copies the teacher's (soft, 0.5-0.97) probabilities, so its margins are the teacher's: judged
    # with batch statistics, as it trained, because 45 steps leave tiny-data BatchNorm running statistics unsettled.
    student = load_model(result.last_path).model.train()
    with torch.no_grad():
        predicted = student(to_model_input(torch.from_numpy(data.images), 1, 48)).argmax(1).numpy()
    np.testing.assert_array_equal(predicted, data.labels)
    assert (tmp_path / "student" / "teacher_logits.pt").exists() == (mode == "cached")
    if mode == "online":  # the teacher's per-batch passes are timed, inside the epoch's time, for the per-minute comparison
        assert all(0 < row["teacher_forward_s"] < row["epoch_time_s"] for row in result.history)
    else:
        assert not any("teacher_forward_s" in row for row in result.history)
    if mode == "cached":  # resuming reads the cache instead of scoring the training set again
        train(dataclasses.replace(recipe, epochs=16), ExperimentSplit("tiny", data, data, data), tmp_path / "student", resume=True,
              progress=False, log=logs.append)
        assert any("teacher logits read from" in line for line in logs)


def test_teacher_with_other_classes_is_refused(tmp_path, tiny_teacher):
    data = tiny_dataset(classes=2)
    recipe = tiny_recipe(epochs=1, loss="distill", loss_kwargs={"teacher": str(tiny_teacher)})
    with pytest.raises(ConfigError, match="same classes"):
        train(recipe, ExperimentSplit("tiny", data, data, data), tmp_path / "run", progress=False, log=lambda s: None)
    with pytest.raises(ConfigError, match="not found"):
        train(dataclasses.replace(recipe, loss_kwargs={"teacher": str(tmp_path / "missing.pt")}), ExperimentSplit("tiny", data, data, data),
              tmp_path / "run2", progress=False, log=lambda s: None)


def test_cached_teacher_logits_are_flip_averaged(tmp_path, tiny_teacher):
    from ferkit.evaluate.predict import predict_probabilities
    from ferkit.train.teacher import build_teacher_signal

    data = tiny_dataset()
    signal = build_teacher_signal(str(tiny_teacher), "cached", data.images, data.class_names, in_chans=1, image_size=48,
                                  device=torch.device("cpu"), cache_dir=tmp_path, log=lambda s: None)
    expected = predict_probabilities(load_model(tiny_teacher).model, data.images, tta="flip")
    got = signal.logits(torch.tensor([3, 0]), torch.zeros(2, 1, 48, 48)).exp().numpy()
    np.testing.assert_allclose(got, expected[[3, 0]], rtol=1e-5, atol=1e-6)
