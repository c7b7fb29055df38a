import dataclasses
import json

import numpy as np
import pytest
import torch

from data.fixtures import class_pattern
from ferkit.artifacts import load_model, to_model_input
from ferkit.data import FaceDataset
from ferkit.data.registry import ExperimentSplit
from ferkit.errors import ConfigError
from ferkit.occlusion.erasing import random_erasing
from ferkit.train.augment import augment_batch, augment_batch_with_mask
from ferkit.train.config import AugmentConfig, Recipe, override
from ferkit.train.loop import train
from ferkit.train.recipes import get_recipe

NO_AUG = AugmentConfig(hflip=False, rotation_deg=0, scale=0, translate=0, brightness=0, contrast=0, erasing_p=0)


def tiny_dataset(n_per_class: int = 8, classes: int = 3, seed: int = 0) -> FaceDataset:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n_per_class)
    images = np.stack([class_pattern(int(c), rng) for c in labels])
    return FaceDataset(images, labels.astype(np.int64), ("anger", "happiness", "sadness")[:classes], tuple(map(str, range(len(labels)))), None, "tiny")


def tiny_recipe(**changes) -> Recipe:
    base = Recipe(name="test", model="modified_resnet18", epochs=12, batch_size=8, optimizer="adam", lr=3e-3, weight_decay=0.0, schedule="none", augment=NO_AUG)
    return dataclasses.replace(base, **changes)


def test_tiny_batch_overfits(tmp_path):
    data = tiny_dataset()
    result = train(tiny_recipe(), ExperimentSplit("tiny", data, data, data), tmp_path / "run", progress=False, log=lambda s: None)
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"]
    assert result.best_val == 1.0
    loaded = load_model(result.best_path)
    assert loaded.class_names == data.class_names


def test_run_writes_recipe_log_and_checkpoints_and_refuses_to_overwrite(tmp_path):
    data = tiny_dataset(4)
    out = tmp_path / "run"
    train(tiny_recipe(epochs=1), ExperimentSplit("tiny", data, data, data), out, progress=False, log=lambda s: None)
    assert json.loads((out / "recipe.json").read_text())["name"] == "test"
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["epoch"] == 1 and "val_accuracy" in rows[0]
    assert (out / "best.pt").exists() and (out / "last.pt").exists() and (out / "curves.png").exists()
    with pytest.raises(ConfigError, match="--resume"):
        train(tiny_recipe(epochs=1), ExperimentSplit("tiny", data, data, data), out, progress=False, log=lambda s: None)


def test_resume_equals_uninterrupted_run(tmp_path):
    data = tiny_dataset(4)
    split = ExperimentSplit("tiny", data, data, data)
    recipe = tiny_recipe(epochs=3, augment=AugmentConfig())
    full = train(recipe, split, tmp_path / "full", progress=False, log=lambda s: None)
    train(dataclasses.replace(recipe, epochs=2), split, tmp_path / "part", progress=False, log=lambda s: None)
    resumed = train(recipe, split, tmp_path / "part", resume=True, progress=False, log=lambda s: None)
    assert resumed.history[-1]["train_loss"] == pytest.approx(full.history[-1]["train_loss"], rel=1e-4)


def test_seeded_runs_are_reproducible(tmp_path):
    data = tiny_dataset(4)
    split = ExperimentSplit("tiny", data, None, data)
    a = train(tiny_recipe(epochs=1, augment=AugmentConfig()), split, tmp_path / "a", progress=False, log=lambda s: None)
    b = train(tiny_recipe(epochs=1, augment=AugmentConfig()), split, tmp_path / "b", progress=False, log=lambda s: None)
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"]
    assert a.best_epoch == 1  # no validation split: the last epoch is selected


@pytest.mark.parametrize("optimizer,schedule", [("sgd", "onecycle"), ("adamw", "cosine"), ("adam", "plateau"), ("sgd", "step")])
def test_optimizer_and_schedule_choices_run(tmp_path, optimizer, schedule):
    data = tiny_dataset(2)
    recipe = tiny_recipe(epochs=1, optimizer=optimizer, schedule=schedule, lr=0.01, sampler="balanced", loss_kwargs={"label_smoothing": 0.1})
    result = train(recipe, ExperimentSplit("tiny", data, data, data), tmp_path / "r", progress=False, log=lambda s: None)
    assert np.isfinite(result.history[0]["train_loss"])


def lr_sequence(recipe: Recipe, *, steps_per_epoch: int = 1, scores: list[float] | None = None) -> tuple[list[float], bool]:
    """The learning rate of each optimizer step, then the one after the run, stepped as the training loop steps
    the schedule: per-batch schedules after every batch, the others once per epoch (plateau on that epoch's score)."""
    from ferkit.train.optim import build_scheduler, step_epoch_scheduler

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=recipe.lr)
    scheduler, per_batch = build_scheduler(recipe, optimizer, steps_per_epoch)
    lrs = []
    for epoch in range(recipe.epochs):
        for _ in range(steps_per_epoch):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if per_batch:
                scheduler.step()
        step_epoch_scheduler(scheduler, recipe, per_batch, scores[epoch] if scores else None)
    return lrs + [optimizer.param_groups[0]["lr"]], per_batch


def test_step_schedule_multiplies_by_gamma_every_step_epochs():
    lrs, per_batch = lr_sequence(tiny_recipe(epochs=7, lr=0.1, schedule="step", schedule_kwargs={"step_epochs": 3, "gamma": 0.5}), steps_per_epoch=2)
    assert not per_batch  # one lr per epoch, whatever the number of batches
    assert lrs == pytest.approx([0.1] * 6 + [0.05] * 6 + [0.025] * 2 + [0.025])


def test_cosine_schedule_follows_the_half_cosine_to_its_minimum_at_the_last_step():
    lrs, per_batch = lr_sequence(tiny_recipe(epochs=2, lr=0.1, schedule="cosine", schedule_kwargs={"eta_min": 0.01}), steps_per_epoch=4)
    total = 8  # steps: 2 epochs x 4 batches
    assert per_batch and len(lrs) == total + 1
    assert lrs == pytest.approx([0.01 + 0.09 * (1 + np.cos(np.pi * k / total)) / 2 for k in range(total + 1)])
    assert lrs[total // 2] == pytest.approx(0.055) and lrs[-1] == pytest.approx(0.01)  # half way, then eta_min after the last step


def test_plateau_schedule_drops_after_patience_epochs_without_a_better_validation_score():
    recipe = tiny_recipe(epochs=8, lr=0.1, schedule="plateau", schedule_kwargs={"factor": 0.5, "patience": 2})
    # epoch 1 sets the best (0.5); epochs 2-4 do not beat it: the third of them (> patience) halves the lr; epoch 5 beats it
    # (0.6), epochs 6-8 do not: halved again after the run's last epoch
    lrs, per_batch = lr_sequence(recipe, scores=[0.5, 0.5, 0.4, 0.45, 0.6, 0.6, 0.6, 0.6])
    assert not per_batch
    assert lrs == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025])
    unscored, _ = lr_sequence(recipe, scores=None)  # no validation split: plateau never steps
    assert unscored == pytest.approx([0.1] * 9)


def test_onecycle_schedule_peaks_at_lr_after_the_warm_up_share_of_steps():
    lrs, per_batch = lr_sequence(tiny_recipe(epochs=2, lr=0.1, schedule="onecycle", schedule_kwargs={"pct_start": 0.25}), steps_per_epoch=10)
    assert per_batch and int(np.argmax(lrs)) == 4 and max(lrs) == pytest.approx(0.1)  # torch peaks at step pct_start x 20 - 1 = 4
    assert lrs[0] < 0.01 and lrs[-2] < 1e-4


@pytest.mark.parametrize("name,momentum,expected", [
    ("adamw", 0.9, torch.optim.AdamW), ("adam", 0.9, torch.optim.Adam), ("sgd", 0.9, torch.optim.SGD), ("sgd", 0.0, torch.optim.SGD),
])
def test_each_optimizer_name_builds_its_torch_class_with_the_recipes_settings(name, momentum, expected):
    from ferkit.train.optim import build_optimizer

    model = torch.nn.Linear(4, 3)
    recipe = tiny_recipe(optimizer=name, lr=0.02, weight_decay=0.003, momentum=momentum)
    optimizer = build_optimizer(recipe, model, torch.nn.Identity())
    assert type(optimizer) is expected
    (group,) = optimizer.param_groups
    assert group["lr"] == 0.02 and group["weight_decay"] == 0.003 and len(group["params"]) == 2
    if name == "sgd":  # nesterov whenever there is momentum (torch refuses nesterov without it)
        assert group["momentum"] == momentum and group["nesterov"] == (momentum > 0)


def test_augmentation_keeps_shape_range_and_is_seeded():
    x = to_model_input(torch.from_numpy(tiny_dataset(2).images))
    a = augment_batch(x, AugmentConfig(), torch.Generator().manual_seed(1))
    b = augment_batch(x, AugmentConfig(), torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.min() >= -1 and a.max() <= 1
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, x)


def test_random_erasing_area_is_within_the_range():
    x = torch.zeros(64, 1, 48, 48)
    erased = random_erasing(x, 1.0, (0.1, 0.2), torch.Generator().manual_seed(0))
    frac = (erased != 0).float().mean(dim=(1, 2, 3))
    assert (frac > 0.05).all() and (frac < 0.3).all()


def test_overrides_and_bad_values():
    recipe = override(get_recipe("fer2013-ce-modres18-v1"), ["epochs=2", "augment.erasing_p=0", "model_kwargs.dropout=0.3"])
    assert recipe.epochs == 2 and recipe.augment.erasing_p == 0 and recipe.model_kwargs["dropout"] == 0.3
    with pytest.raises(ConfigError, match="unknown recipe field"):
        override(recipe, ["epoch=2"])
    with pytest.raises(ConfigError, match="optimizer"):
        override(recipe, ["optimizer=rmsprop"])
    with pytest.raises(ConfigError, match="unknown recipe"):
        get_recipe("nope")


def test_soft_labels_train_with_probability_targets(tmp_path):
    data = tiny_dataset(4)
    soft = np.eye(3, dtype=np.float32)[data.labels] * 0.8 + 0.2 / 3
    soft_data = FaceDataset(data.images, data.labels, data.class_names, data.ids, None, "soft", {"soft_labels": soft})
    result = train(tiny_recipe(epochs=2), ExperimentSplit("tiny", soft_data, data, data), tmp_path / "run", progress=False, log=lambda s: None)
    assert "train_ce_soft" in result.history[0]
    with pytest.raises(ConfigError, match="soft labels"):
        train(tiny_recipe(epochs=1, loss="center"), ExperimentSplit("tiny", soft_data, data, data), tmp_path / "run2", progress=False, log=lambda s: None)


@pytest.mark.parametrize("assignment,message", [
    ("select_metric=f1", "select_metric"), ("val_tta=flp", "val_tta"), ("schedule_kwargs.step_epoch=5", "schedule_kwargs"),
    ("augment.erasing_area=[0.3]", "erasing_area"), ("augment.scale=1.5", "scale"),
])
def test_bad_recipe_values_fail_before_training(assignment, message):
    recipe = get_recipe("fer2013-ce-modres18-v1")
    if assignment.startswith("schedule_kwargs."):
        recipe = dataclasses.replace(recipe, schedule="step")
        assignment = assignment.replace("schedule_kwargs.", "schedule_kwargs=").replace("step_epoch=5", '{"step_epoch": 5}')
    with pytest.raises(ConfigError, match=message):
        override(recipe, [assignment])


def test_resume_refuses_another_recipe_or_a_longer_onecycle(tmp_path):
    data = tiny_dataset(4)
    split = ExperimentSplit("tiny", data, data, data)
    train(tiny_recipe(epochs=1, schedule="onecycle"), split, tmp_path / "run", progress=False, log=lambda s: None)
    with pytest.raises(ConfigError, match="epochs"):
        train(tiny_recipe(epochs=2, schedule="onecycle"), split, tmp_path / "run", resume=True, progress=False, log=lambda s: None)
    with pytest.raises(ConfigError, match="different recipe"):
        train(tiny_recipe(epochs=1, schedule="onecycle", lr=0.5), split, tmp_path / "run", resume=True, progress=False, log=lambda s: None)


def test_a_run_saved_before_bf16_became_the_cpu_default_still_resumes(tmp_path):
    """cpu_amp says how a host runs the recipe (fp32 without native bf16), not what the recipe is: a last.pt saved
    with cpu_amp false resumes under the True default; any other field still refuses."""
    from ferkit.train.resume import check_same_recipe

    saved = dataclasses.replace(tiny_recipe(epochs=1), cpu_amp=False).to_dict()
    check_same_recipe(saved, tiny_recipe(epochs=1), tmp_path / "last.pt")
    with pytest.raises(ConfigError, match="different recipe"):
        check_same_recipe({**saved, "lr": 0.5}, tiny_recipe(epochs=1), tmp_path / "last.pt")


def test_mask_follows_the_image_through_flips_and_warps_and_gains_erased_boxes():
    # A bright square on a dark image, with its mask: after augmentation the mask still marks the square.
    x = torch.full((16, 1, 48, 48), -1.0)
    x[:, :, 10:22, 6:18] = 1.0
    mask = (x[:, 0] > 0).float()
    cfg = AugmentConfig(brightness=0, contrast=0, erasing_p=0.0)
    plain = augment_batch(x, cfg, torch.Generator().manual_seed(3))
    out, moved = augment_batch_with_mask(x, cfg, torch.Generator().manual_seed(3), mask)
    torch.testing.assert_close(out, plain)  # the same draws with and without a mask
    bright = out[:, 0] > 0.5
    assert ((moved > 0.5) == bright).float().mean() > 0.98
    # Random erasing adds its boxes to the mask.
    out, erased_mask = augment_batch_with_mask(x, AugmentConfig(hflip=False, rotation_deg=0, scale=0, translate=0, brightness=0, contrast=0, erasing_p=1.0),
                                               torch.Generator().manual_seed(4), torch.zeros(16, 48, 48))
    changed = (out != x)[:, 0]
    assert torch.equal(changed, changed & (erased_mask > 0)) and erased_mask.sum() > 0
    with pytest.raises(ValueError, match="mask must be"):
        augment_batch_with_mask(x, cfg, torch.Generator(), torch.zeros(16, 24, 24))


def test_occlusion_map_supervision_needs_occluders_and_trains(tmp_path):
    data = tiny_dataset(4)
    recipe = tiny_recipe(model="occlusion_net", model_kwargs={"backbone": "modified_resnet18", "occlusion_mask_weight": 1.0}, epochs=2)
    with pytest.raises(ConfigError, match="occlusion_p must be > 0"):
        train(recipe, ExperimentSplit("tiny", data, data, data), tmp_path / "a", progress=False, log=lambda s: None)
    recipe = dataclasses.replace(recipe, augment=dataclasses.replace(NO_AUG, occlusion_p=1.0))
    result = train(recipe, ExperimentSplit("tiny", data, data, data), tmp_path / "b", progress=False, log=lambda s: None)
    assert all(np.isfinite(row["train_occlusion_mask"]) and row["train_occlusion_mask"] > 0 for row in result.history)


def test_a_diverging_run_stops_with_a_clear_error(tmp_path):
    from ferkit.errors import TrainingDivergedError

    data = tiny_dataset(4)

    def poison(model):
        model.head.weight.data.fill_(float("nan"))

    with pytest.raises(TrainingDivergedError, match="training loss became nan at epoch 1.*lower the learning rate"):
        train(tiny_recipe(epochs=2), ExperimentSplit("tiny", data, data, data), tmp_path / "run", progress=False, log=lambda s: None, model_init=poison)


def test_weights_that_overflow_in_an_epoch_are_never_saved_as_best(tmp_path, monkeypatch):
    """lr=1e30 left every batch's loss finite and the weights at inf/NaN after epoch 1; best.pt kept that model."""
    from ferkit.errors import TrainingDivergedError
    from ferkit.train import loop

    real_epoch = loop.train_one_epoch

    def overflowing(run, state, epoch, **kwargs):
        row = real_epoch(run, state, epoch, **kwargs)
        if epoch == 1:
            next(run.model.parameters()).data.fill_(float("inf"))
        return row

    monkeypatch.setattr(loop, "train_one_epoch", overflowing)
    data = tiny_dataset(4)
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match=r"after epoch 2 \d+ weight tensor\(s\) are not finite.*lower the learning rate"):
        train(tiny_recipe(epochs=3), ExperimentSplit("tiny", data, data, data), out, progress=False, log=lambda s: None)
    assert torch.load(out / "last.pt", weights_only=False)["epoch"] == 1  # epoch 1 kept, epoch 2 never written
    assert all(torch.isfinite(t).all() for t in load_model(out / "best.pt").model.state_dict().values() if t.is_floating_point())
