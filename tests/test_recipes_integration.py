"""Every shipped recipe runs one epoch end to end on tiny data: model, loss, sampler and
augmentation (occluders included) fit together in the one training loop."""

import dataclasses

import numpy as np
import pytest

from test_train import tiny_dataset
from ferkit.data.registry import ExperimentSplit
from ferkit.occlusion import erase_dataset
from ferkit.artifacts import load_model
from ferkit.train.loop import train
from ferkit.train.recipes import get_recipe, list_recipes


@pytest.mark.parametrize("name", list_recipes())
def test_recipe_runs_one_epoch_on_tiny_data(name, tmp_path):
    data = tiny_dataset(n_per_class=6)
    recipe = get_recipe(name)
    small = {"epochs": 1, "batch_size": min(recipe.batch_size, 8 if recipe.sampler in ("triplet", "pairs") else 16), "init_weights": None}
    if recipe.sampler == "pk":
        small["sampler_kwargs"] = {**recipe.sampler_kwargs, "samples_per_class": 4}
    if recipe.sampler == "triplet":
        small["sampler_kwargs"] = {}
    if recipe.loss == "distill":  # the recipe's teacher predicts FER2013's 7 classes: a tiny teacher of the tiny set stands in
        teacher = train(dataclasses.replace(get_recipe("tiny-smoke-v1"), epochs=1), ExperimentSplit("tiny", data, data, data), tmp_path / "teacher",
                        progress=False, log=lambda s: None)
        small["loss_kwargs"] = {**recipe.loss_kwargs, "teacher": str(teacher.best_path)}
    recipe = dataclasses.replace(recipe, **small)
    result = train(recipe, ExperimentSplit("tiny", data, data, data), tmp_path / "run", progress=False, log=lambda s: None)
    assert np.isfinite(result.history[0]["train_loss"])
    assert load_model(result.best_path).class_names == data.class_names


def test_transfer_from_a_checkpoint_resets_the_head_and_freezes(tmp_path):
    data = tiny_dataset(n_per_class=4)
    split = ExperimentSplit("tiny", data, data, data)
    source = train(dataclasses.replace(get_recipe("tiny-smoke-v1"), epochs=1), split, tmp_path / "src", progress=False, log=lambda s: None)
    messages = []
    recipe = dataclasses.replace(get_recipe("tiny-smoke-v1"), epochs=1, init_weights=str(source.best_path), freeze_stages=2, backbone_lr_mult=0.1)
    result = train(recipe, split, tmp_path / "dst", progress=False, log=messages.append)
    assert any("loaded" in m.lower() for m in messages)
    before = load_model(source.best_path).model.backbone.layer1[0].conv1.weight
    after = load_model(result.best_path).model.backbone.layer1[0].conv1.weight
    assert (before == after).all()  # stage 1 was frozen


def test_erased_copy_is_reproducible_and_changes_about_p_of_the_images():
    data = tiny_dataset(n_per_class=20)
    a, b = erase_dataset(data, p=0.5, seed=3), erase_dataset(data, p=0.5, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    changed = (a.images != data.images).reshape(len(data), -1).any(1).mean()
    assert 0.3 < changed < 0.7
    np.testing.assert_array_equal(a.labels, data.labels)
