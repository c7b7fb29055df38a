"""Every shipped recipe runs one epoch end to end on tiny data: model, loss, sampler and
augmentation (occluders included) fit together in the one training loop, and a recipe that warm-starts
from a run starts from that run's weights, found through a runs directory."""

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from test_train import tiny_dataset
from ferkit.data.registry import ExperimentSplit
from ferkit.occlusion import erase_dataset
from ferkit.artifacts import load_model
from ferkit.train.loop import train
from ferkit.train.optim import build_optimizer
from ferkit.train.recipes import get_recipe, list_recipes
from ferkit.train.runs import check_run_spec, resolve_warm_start
from ferkit.train.setup import prepare_model


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """One tiny stage-1 run of the network every shipped warm start comes from (modified ResNet-18, CE)."""
    data = tiny_dataset(n_per_class=6)
    out = tmp_path_factory.mktemp("stage1") / "run"
    recipe = dataclasses.replace(get_recipe("fer2013-ce-modres18-v1"), epochs=1, batch_size=16)
    return train(recipe, ExperimentSplit("tiny", data, data, data), out, progress=False, log=lambda s: None).best_path


def warm_start_through_runs_dir(recipe, source_path, runs_dir):
    """Put the tiny stage-1 run where the recipe's ``run:<name>/best.pt`` points, and resolve it there."""
    relative = check_run_spec(recipe.init_weights, recipe.tag)
    target = runs_dir.joinpath(*relative.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source_path, target)
    resolved = resolve_warm_start(recipe, runs_dir)
    assert resolved.init_weights == str(target)
    return resolved


def backbone_tensors_equal_to(source_path):
    """A ``model_init`` hook (called after the warm start, before training): which of the source's backbone
    tensors the model holds, and which it holds with other values."""
    source = {k: v.float() for k, v in torch.load(source_path, map_location="cpu", weights_only=False)["model"].items() if k.startswith("backbone.")}
    seen = {}

    def check(model):
        state = {k: v.float() for k, v in model.state_dict().items()}
        shared = [k for k, v in source.items() if k in state and state[k].shape == v.shape]
        seen["equal"] = [k for k in shared if torch.equal(state[k], source[k])]
        seen["different"] = [k for k in shared if k not in seen["equal"]]

    return check, seen


@pytest.mark.parametrize("name", list_recipes())
def test_recipe_runs_one_epoch_on_tiny_data(name, tmp_path, source_run):
    data = tiny_dataset(n_per_class=6)
    recipe = get_recipe(name)
    model_init, seen = None, {}
    if recipe.init_weights:
        recipe = warm_start_through_runs_dir(recipe, source_run, tmp_path / "runs")
        model_init, seen = backbone_tensors_equal_to(source_run)
    small = {"epochs": 1, "batch_size": min(recipe.batch_size, 8 if recipe.sampler in ("triplet", "pairs") else 16)}
    if recipe.sampler == "pk":
        small["sampler_kwargs"] = {**recipe.sampler_kwargs, "samples_per_class": 4}
    if recipe.sampler == "triplet":
        small["sampler_kwargs"] = {}
    if recipe.loss == "distill":  # the recipe's teacher predicts FER2013's 7 classes: a tiny teacher of the tiny set stands in
        teacher = train(dataclasses.replace(get_recipe("tiny-smoke-v1"), epochs=1), ExperimentSplit("tiny", data, data, data), tmp_path / "teacher",
                        progress=False, log=lambda s: None)
        small["loss_kwargs"] = {**recipe.loss_kwargs, "teacher": str(teacher.best_path)}
    recipe = dataclasses.replace(recipe, **small)
    result = train(recipe, ExperimentSplit("tiny", data, data, data), tmp_path / "run", progress=False, log=lambda s: None, model_init=model_init)
    assert np.isfinite(result.history[0]["train_loss"])
    assert load_model(result.best_path).class_names == data.class_names
    if model_init is not None:  # the whole stage-1 backbone was loaded, down to the last stage
        assert not seen["different"] and "backbone.layer4.0.conv1.weight" in seen["equal"], seen


@pytest.fixture(scope="module")
def transfer_source(tmp_path_factory):
    """A one-epoch tiny-smoke run under $FERKIT_RUNS_DIR/src-v1, the split it was trained on, a recipe warm-starting from it
    (resolved to the run's file) and the run's head."""
    data = tiny_dataset(n_per_class=4)
    split = ExperimentSplit("tiny", data, data, data)
    runs = tmp_path_factory.mktemp("transfer") / "runs"
    source = train(dataclasses.replace(get_recipe("tiny-smoke-v1"), epochs=1), split, runs / "src-v1", progress=False, log=lambda s: None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FERKIT_RUNS_DIR", str(runs))
        recipe = resolve_warm_start(dataclasses.replace(get_recipe("tiny-smoke-v1"), epochs=1, init_weights="run:src-v1/best.pt", freeze_stages=2,
                                                        backbone_lr_mult=0.1))
    return split, source, recipe, load_model(source.best_path).model.head


def test_transfer_from_a_run_freezes_stages_and_lowers_the_backbone_lr(transfer_source, tmp_path):
    split, source, recipe, _ = transfer_source
    messages = []
    result = train(recipe, split, tmp_path / "dst", progress=False, log=messages.append)
    assert any("loaded" in m.lower() for m in messages)
    before = load_model(source.best_path).model.backbone.layer1[0].conv1.weight
    after = load_model(result.best_path).model.backbone.layer1[0].conv1.weight
    assert (before == after).all()  # stage 1 was frozen
    model = prepare_model(recipe, split.train.class_names, torch.device("cpu"), log=lambda s: None)
    groups = {g["name"]: g for g in build_optimizer(recipe, model, torch.nn.Identity()).param_groups}
    assert groups["backbone"]["lr"] == pytest.approx(0.1 * recipe.lr) and groups["head"]["lr"] == pytest.approx(recipe.lr)
    frozen = {id(p) for p in model.backbone.layer1.parameters()}
    assert not frozen & {id(p) for g in groups.values() for p in g["params"]}  # frozen stages are in no group
    assert any(p is model.head.weight for p in groups["head"]["params"])


def test_transfer_between_the_same_classes_keeps_the_sources_head(transfer_source):
    split, _, recipe, source_head = transfer_source
    model = prepare_model(recipe, split.train.class_names, torch.device("cpu"), log=lambda s: None)
    torch.testing.assert_close(model.head.weight, source_head.weight, rtol=0, atol=0)
    torch.testing.assert_close(model.head.bias, source_head.bias, rtol=0, atol=0)


def test_transfer_to_other_classes_of_the_same_number_resets_the_head(transfer_source):
    split, _, recipe, source_head = transfer_source
    renamed = ("fear", "surprise", "neutral")  # three classes, as the source, but not the source's
    assert len(renamed) == len(split.train.class_names) and renamed != split.train.class_names
    model = prepare_model(recipe, renamed, torch.device("cpu"), log=lambda s: None)
    assert model.head.weight.shape == source_head.weight.shape
    assert not torch.equal(model.head.weight, source_head.weight) and not torch.equal(model.head.bias, source_head.bias)
    torch.testing.assert_close(model.backbone.layer4[0].conv1.weight, load_backbone_tensor(recipe, "layer4.0.conv1.weight"), rtol=0, atol=0)


def load_backbone_tensor(recipe, name):
    """One backbone tensor of the recipe's warm-start checkpoint, as the source run saved it."""
    return load_model(recipe.init_weights).model.backbone.get_parameter(name)


def test_erased_copy_is_reproducible_and_changes_about_p_of_the_images():
    data = tiny_dataset(n_per_class=20)
    a, b = erase_dataset(data, p=0.5, seed=3), erase_dataset(data, p=0.5, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    changed = (a.images != data.images).reshape(len(data), -1).any(1).mean()
    assert 0.3 < changed < 0.7
    np.testing.assert_array_equal(a.labels, data.labels)
