"""Every model family trains under the CPU's bf16 autocast (the default where the CPU has native bf16, Recipe.cpu_amp):
the STN's grid, the occlusion networks' masks and map losses, the triplet and centre losses and the P x K sampler, one
seeded epoch each on the loop reference's tiny data. A dtype mismatch would fail the first batch of a queued run hours
after it was started; here it fails in seconds. bf16 is emulated under the suite's AVX2 pin, so the data stay tiny."""

from __future__ import annotations

import math

import pytest
import torch

from data.loop_reference import CASES, case_recipe, one_thread, reference_split

BF16_CASES = [(case, name, changes) for case, name, changes in CASES if not case.startswith("distill")]  # the long run is one


@pytest.mark.parametrize(("case", "name", "changes"), BF16_CASES, ids=[c[0] for c in BF16_CASES])
def test_one_epoch_in_bf16_gives_finite_losses_and_fp32_weights(case, name, changes, tmp_path, monkeypatch):
    from ferkit.artifacts import load_checkpoint
    from ferkit.train import setup
    from ferkit.train.config import recipe_from_dict
    from ferkit.train.loop import train

    monkeypatch.setattr(setup, "cpu_has_native_bf16", lambda: True)  # the suite's FERKIT_CPU_BF16=0 is read there only
    recipe = recipe_from_dict({**case_recipe(name, changes), "cpu_amp": True})
    with one_thread():
        result = train(recipe, reference_split(), tmp_path / case, device="cpu", progress=False, log=lambda line: None)
    row = result.history[-1]
    assert row["precision"] == "bf16"
    losses = {key: value for key, value in row.items() if key.startswith("train_") and isinstance(value, float)}
    assert losses and all(math.isfinite(value) for value in losses.values()), losses
    weights = load_checkpoint(result.last_path)["model"]
    floats = [value for value in weights.values() if torch.is_floating_point(value)]
    assert all(value.dtype == torch.float32 and bool(torch.isfinite(value).all()) for value in floats)  # autocast keeps fp32 weights
