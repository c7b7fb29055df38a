"""Occluders drawn in worker processes (ferkit.train.occluder_pool): the same draws whatever the number of
workers, errors raised at their batch, and a training run that gives the same weights with one or two workers
and resumes as if never stopped."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from data.loop_reference import one_thread, reference_split, weights_digest
from ferkit.artifacts import load_checkpoint
from ferkit.errors import ConfigError
from ferkit.occlusion import RandomOcclusion
from ferkit.train.config import AugmentConfig
from ferkit.train.loop import train
from ferkit.train.occluder_pool import OccluderPool, batch_entropy
from ferkit.train.recipes import get_recipe


class FailingOcclusion(RandomOcclusion):
    """Fails on batches of 3 images: a worker's error must reach the loop."""

    def draw(self, batch_size, image_shape, rng):
        if batch_size == 3:
            raise ValueError("cannot draw this batch")
        return super().draw(batch_size, image_shape, rng)


def batches(n: int = 6, size: int = 8) -> list[np.ndarray]:
    return [np.arange(i * size, (i + 1) * size) for i in range(n)]


def test_draws_do_not_depend_on_the_number_of_workers():
    occluder = RandomOcclusion(p=0.7, ratio_range=(0.1, 0.5))
    with OccluderPool(occluder, (48, 48), 1, seed=5) as one, OccluderPool(occluder, (48, 48), 2, seed=5) as two:
        got_one = list(one.epoch_batches(iter(batches()), epoch=3))
        got_two = list(two.epoch_batches(iter(batches()), epoch=3))
    assert [g[0].tolist() for g in got_two] == [b.tolist() for b in batches()]
    for number, ((_, a), (_, b)) in enumerate(zip(got_one, got_two)):
        expected = occluder.draw(8, (48, 48), np.random.default_rng(batch_entropy(5, 3, 0, number)))
        for drawn in (a, b):
            assert np.array_equal(drawn.rows, expected.rows) and np.array_equal(drawn.alpha, expected.alpha)
            assert np.array_equal(drawn.colour, expected.colour)
    assert any(len(d.rows) for _, d in got_one)  # something was drawn at all


def test_another_epoch_or_rank_draws_other_occluders():
    assert batch_entropy(0, 1, 0, 2) != batch_entropy(0, 2, 0, 2) != batch_entropy(0, 2, 1, 2)


def test_a_workers_error_is_raised_at_its_batch():
    sizes = [np.arange(8), np.arange(8), np.arange(3), np.arange(8)]
    seen = []
    with OccluderPool(FailingOcclusion(p=1.0, ratio_range=(0.1, 0.5)), (48, 48), 2, seed=0) as pool:
        with pytest.raises(ValueError, match="cannot draw this batch"):
            for indices, _ in pool.epoch_batches(iter(sizes), epoch=0):
                seen.append(len(indices))
    assert seen == [8, 8]


def test_workers_must_be_positive():
    with pytest.raises(ConfigError, match="occluder workers"):
        OccluderPool(RandomOcclusion(p=0.5), (48, 48), 0, seed=0)


def small_recipe(epochs: int):
    return dataclasses.replace(get_recipe("fer2013-default-modres18-occ-v3"), epochs=epochs, batch_size=8, init_weights=None,
                               model_kwargs={"channels": [8, 16, 16, 32]}, augment=AugmentConfig(occlusion_p=0.6, erasing_p=0.25))


class Stop(Exception):
    pass


def trained_weights(out, *, workers: int, resume: bool = False, stop_after: int | None = None) -> dict | None:
    """last.pt's weights after a 2-epoch run; ``stop_after`` ends the process's run after that epoch's checkpoint."""

    def log(line: str) -> None:
        if stop_after is not None and line.startswith(f"epoch {stop_after}/"):
            raise Stop

    with one_thread():
        try:
            result = train(small_recipe(2), reference_split(), out, device="cpu", progress=False, log=log, resume=resume, occluder_workers=workers)
        except Stop:
            return None
    return weights_digest(load_checkpoint(result.last_path)["model"])


@pytest.mark.slow
def test_a_run_trains_the_same_with_one_or_two_workers_and_resumes_as_if_never_stopped(tmp_path):
    one = trained_weights(tmp_path / "one", workers=1)
    assert trained_weights(tmp_path / "two", workers=2) == one
    assert trained_weights(tmp_path / "resumed", workers=2, stop_after=1) is None  # stopped: else the resume below trains nothing
    assert [json.loads(line)["epoch"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()] == [1]
    assert trained_weights(tmp_path / "resumed", workers=1, resume=True) == one
    assert trained_weights(tmp_path / "inline", workers=0) != one  # the default draws another stream


def test_a_negative_worker_count_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="occluder workers must be >= 0"):
        train(small_recipe(1), reference_split(), tmp_path / "bad", device="cpu", progress=False, log=lambda s: None, occluder_workers=-1)
