"""Mixup / CutMix (timm's, in batch mode): the mixed images and targets, the recipe field, a run that learns with it."""

import dataclasses

import numpy as np
import pytest
import torch

from ferkit.data.dataset import FaceDataset
from ferkit.data.registry import ExperimentSplit
from ferkit.errors import ConfigError
from ferkit.train.config import override, recipe_from_dict, validate_recipe
from ferkit.train.loop import train
from ferkit.train.mixup import BatchMixer, mixup_enabled
from test_train import tiny_dataset, tiny_recipe

NUM_CLASSES = 3


def constant_batch(batch_size: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Row i is an image filled with the value i; labels such that row i and row B-1-i (its partner) differ."""
    x = torch.arange(batch_size, dtype=torch.float32)[:, None, None, None].expand(batch_size, 1, 8, 8).clone()
    y = torch.tensor({6: [0, 1, 2, 0, 2, 1], 5: [0, 1, 2, 2, 1]}[batch_size])
    return x, y


def test_mixup_blends_each_row_with_its_reverse_and_the_targets_by_the_same_lambda():
    x, y = constant_batch()
    mixed, targets = BatchMixer({"mixup_alpha": 0.4}, NUM_CLASSES)(x, y, np.random.default_rng(3))
    assert torch.equal(x, constant_batch()[0])  # the input is not mixed in place
    lam = float(targets[0, y[0]])  # row 0 (label 0) is mixed with row 5 (label 2)
    assert 0 < lam < 1
    onehot = torch.eye(NUM_CLASSES)[y]
    assert torch.allclose(targets, lam * onehot + (1 - lam) * onehot.flip(0), atol=1e-6)
    assert torch.allclose(mixed, lam * x + (1 - lam) * x.flip(0), atol=1e-5)
    assert torch.allclose(targets.sum(1), torch.ones(len(y)))


def test_mixing_is_seeded_by_the_runs_generator_and_leaves_numpys_global_state_alone():
    x, y = constant_batch()
    mixer = BatchMixer({"mixup_alpha": 0.4, "cutmix_alpha": 1.0}, NUM_CLASSES)
    np.random.seed(11)
    before = np.random.get_state()[1].copy()
    first = [mixer(x, y, rng) for rng in [np.random.default_rng(5)] for _ in range(4)]
    again = [mixer(x, y, rng) for rng in [np.random.default_rng(5)] for _ in range(4)]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    assert not all(torch.equal(first[0][1], other[1]) for other in first[1:])  # successive batches draw anew
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("seed", range(6))
def test_cutmix_pastes_one_box_whose_area_is_the_other_labels_weight(seed):
    x, y = constant_batch()
    mixed, targets = BatchMixer({"cutmix_alpha": 1.0}, NUM_CLASSES)(x, y, np.random.default_rng(seed))
    pixels = x.shape[-1] * x.shape[-2]
    for i in range(len(y)):
        j = len(y) - 1 - i
        from_other = mixed[i, 0] == float(j)
        assert torch.all((mixed[i, 0] == float(i)) | from_other)  # pasted, not blended
        assert float(targets[i, y[j]]) == pytest.approx(float(from_other.sum()) / pixels, abs=1e-6)
        rows, cols = torch.nonzero(from_other, as_tuple=True)
        if len(rows):  # the pasted pixels fill one rectangle
            box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            assert int(box) == int(from_other.sum())


def test_odd_batch_keeps_its_last_row_unmixed_with_a_one_hot_target():
    x, y = constant_batch(5)
    mixed, targets = BatchMixer({"mixup_alpha": 1.0}, NUM_CLASSES)(x, y, np.random.default_rng(0))
    assert torch.equal(mixed[4], x[4]) and torch.equal(targets[4], torch.eye(NUM_CLASSES)[y[4]])
    assert torch.allclose(mixed[0], targets[0, y[0]] * x[0] + targets[0, y[3]] * x[3], atol=1e-5)


def test_prob_zero_or_zero_alphas_are_off():
    assert not mixup_enabled({}) and not mixup_enabled({"mixup_alpha": 0.0}) and not mixup_enabled({"cutmix_alpha": 1.0, "prob": 0})
    assert mixup_enabled({"cutmix_alpha": 1.0}) and mixup_enabled({"mixup_alpha": 0.2, "prob": 0.5})


@pytest.mark.parametrize("mixup,loss,message", [
    ({"alpha": 0.2}, "ce", "unknown mixup option"),
    ({"mixup_alpha": -0.2}, "ce", "mixup.mixup_alpha must be a number >= 0"),
    ({"mixup_alpha": True}, "ce", "mixup.mixup_alpha must be a number"),
    ({"mixup_alpha": "0.2"}, "ce", "mixup.mixup_alpha must be a number"),
    ({"cutmix_alpha": 1.0, "prob": 1.5}, "ce", "mixup.prob is a probability"),
    ({"cutmix_alpha": 1.0, "switch_prob": 2}, "ce", "mixup.switch_prob is a probability"),
    (0.2, "ce", "mixup must be a table"),
    ({"mixup_alpha": 0.2}, "distill", "loss 'distill' cannot use: its hard-label term"),
    ({"cutmix_alpha": 1.0}, "center", "loss 'center' cannot use"),
    ({"cutmix_alpha": 1.0}, "weighted_ce", "loss 'weighted_ce' cannot use"),
])
def test_bad_mixup_configs_are_refused_at_load_time(mixup, loss, message):
    with pytest.raises(ConfigError, match=message):
        validate_recipe(tiny_recipe(mixup=mixup, loss=loss))


def test_triplet_loss_with_mixup_is_refused():
    with pytest.raises(ConfigError, match="loss 'triplet' cannot use"):
        validate_recipe(tiny_recipe(loss="triplet", sampler="triplet", mixup={"mixup_alpha": 0.2}))


def test_set_override_reaches_the_mixup_table_and_old_recipes_load_without_it():
    recipe = tiny_recipe()
    assert override(recipe, ["mixup.cutmix_alpha=1.0"]).mixup == {"cutmix_alpha": 1.0}
    assert override(recipe, ['mixup={"mixup_alpha": 0.2, "prob": 0.5}']).mixup == {"mixup_alpha": 0.2, "prob": 0.5}
    with pytest.raises(ConfigError, match="unknown mixup option"):
        override(recipe, ["mixup.alpha=0.2"])
    old = recipe.to_dict()
    del old["mixup"]  # a recipe.json / checkpoint written before the field existed
    assert recipe_from_dict(old) == recipe and recipe.mixup == {}


def test_mixup_refuses_soft_label_datasets(tmp_path):
    data = tiny_dataset(4)
    soft = np.eye(3, dtype=np.float32)[data.labels]
    soft_data = FaceDataset(data.images, data.labels, data.class_names, data.ids, None, "soft", {"soft_labels": soft})
    with pytest.raises(ConfigError, match="soft labels, and mixup"):
        train(tiny_recipe(epochs=1, mixup={"mixup_alpha": 0.2}), ExperimentSplit("tiny", soft_data, data, data), tmp_path / "run",
              progress=False, log=lambda s: None)


@pytest.mark.parametrize("mixup", [{"mixup_alpha": 0.2}, {"cutmix_alpha": 1.0}])
def test_tiny_run_with_mixup_or_cutmix_still_learns_the_tiny_set(tmp_path, mixup):
    data = tiny_dataset()
    result = train(tiny_recipe(mixup=mixup, epochs=15), ExperimentSplit("tiny", data, data, data), tmp_path / "run", progress=False, log=lambda s: None)
    assert "train_ce_soft" in result.history[0]  # the loss learnt from the mixed targets
    assert result.history[-1]["train_loss"] < 0.6 * result.history[0]["train_loss"]
    assert result.best_val == 1.0
    # accuracy against each mixed image's own label: mixing keeps it dominant often enough that the last epochs score well
    # above chance (1/3; about 0.9 for both here)
    assert np.mean([row["train_accuracy"] for row in result.history[-5:]]) >= 0.6


def test_without_mixup_a_run_is_unchanged_by_the_field(tmp_path):
    """An empty mixup table draws nothing from the run's generators: the same losses as a recipe built without it."""
    data = tiny_dataset(4)
    split = ExperimentSplit("tiny", data, data, data)
    base = train(tiny_recipe(epochs=2), split, tmp_path / "a", progress=False, log=lambda s: None)
    off = train(tiny_recipe(epochs=2, mixup={"mixup_alpha": 0.0}), split, tmp_path / "b", progress=False, log=lambda s: None)
    assert [r["train_loss"] for r in base.history] == [r["train_loss"] for r in off.history]
    assert "train_ce" in base.history[0] and "train_ce_soft" not in base.history[0]
