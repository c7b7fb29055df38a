"""Occluders drawn ahead on a thread (ferkit.train.prefetch): same batches, same generator state, errors
raised in the loop, and the thread gone when the loop stops early."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from data.loop_reference import one_thread, reference_split, weights_digest
from ferkit.train.config import AugmentConfig
from ferkit.train.epoch import train_one_epoch
from ferkit.train.prefetch import prefetched
from ferkit.train.recipes import get_recipe
from ferkit.devices import resolve_device
from ferkit.train import distributed
from ferkit.train.setup import build_run


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ferkit-occluder-prefetch"]


def test_prefetched_keeps_order_and_draw_sequence():
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    batches = [np.arange(i, i + 4) for i in range(0, 40, 4)]
    got = list(prefetched(iter(batches), lambda idx: rng_a.random(len(idx)), depth=3))
    assert [g[0].tolist() for g in got] == [b.tolist() for b in batches]
    for (_, drawn), _batch in zip(got, batches):
        assert np.array_equal(drawn, rng_b.random(4))  # the same draws in the same order as inline
    assert rng_a.bit_generator.state == rng_b.bit_generator.state
    assert not prefetch_threads()


def test_an_error_on_the_thread_is_raised_at_its_batch():
    def draw(idx):
        if idx[0] == 8:
            raise ValueError("bad occluder")
        return idx.sum()

    seen = []
    with pytest.raises(ValueError, match="bad occluder"):
        for idx, _ in prefetched((np.arange(i, i + 4) for i in range(0, 40, 4)), draw):
            seen.append(int(idx[0]))
    assert seen == [0, 4]
    assert not prefetch_threads()


def test_stopping_early_ends_the_thread_without_drawing_everything():
    drawn = []

    def slow(idx):
        drawn.append(int(idx[0]))
        time.sleep(0.01)
        return None

    batches = prefetched((np.array([i]) for i in range(1000)), slow, depth=2)
    for idx, _ in batches:
        if idx[0] == 3:
            break
    batches.close()
    assert not prefetch_threads()
    assert len(drawn) <= 3 + 1 + 2 + 1  # the batches used, the queue's depth, the one in hand


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        list(prefetched([np.arange(2)], lambda idx: idx, depth=0))


def make_run(recipe, out):
    return build_run(recipe, reference_split(), out, resolve_device("cpu"), distributed.current(), log=lambda s: None)


def one_epoch(recipe, tmp_path, prefetch: bool) -> tuple[dict, dict, dict]:
    """(log row without timings, weights digest, numpy generator state) after one seeded epoch."""
    with one_thread():
        run, state = make_run(recipe, tmp_path)
        row = train_one_epoch(run, state, 0, prefetch=prefetch)
    row = {k: v for k, v in row.items() if k not in ("epoch_time_s", "cpu_time_s", "images_per_s")}
    return row, weights_digest(run.model.state_dict()), state.rng.bit_generator.state


@pytest.mark.parametrize("sampler", ["shuffle", "balanced"])  # balanced draws each batch's indices from the same generator
def test_an_epoch_with_prefetch_is_bit_for_bit_the_epoch_without(tmp_path, sampler):
    recipe = dataclasses.replace(get_recipe("fer2013-default-modres18-occ-v3"), epochs=1, batch_size=8, init_weights=None, sampler=sampler,
                                 model_kwargs={"channels": [8, 16, 16, 32]}, augment=AugmentConfig(occlusion_p=0.6, erasing_p=0.25))
    with_prefetch = one_epoch(recipe, tmp_path / "a", prefetch=True)
    without = one_epoch(recipe, tmp_path / "b", prefetch=False)
    assert with_prefetch[0] == without[0]
    assert with_prefetch[1] == without[1]
    assert with_prefetch[2] == without[2]


def test_mixup_batches_are_not_prefetched(tmp_path):
    """The mixer draws from the same generator in the loop, so drawing occluders ahead would reorder the draws."""
    recipe = dataclasses.replace(get_recipe("fer2013-default-modres18-occ-v3"), epochs=1, batch_size=8, init_weights=None,
                                 augment=AugmentConfig(occlusion_p=0.5), mixup={"mixup_alpha": 0.2})
    run, _ = make_run(recipe, tmp_path)
    assert run.make_batch.occluder is not None and not run.make_batch.can_prefetch
    plain = dataclasses.replace(recipe, mixup={})
    assert make_run(plain, tmp_path / "p")[0].make_batch.can_prefetch
    assert not make_run(dataclasses.replace(plain, augment=AugmentConfig(occlusion_p=0.0)), tmp_path / "q")[0].make_batch.can_prefetch


def test_by_default_only_a_gpu_run_prefetches(tmp_path, monkeypatch):
    """On the CPU the drawing thread competes with the training threads (measured no faster), so it is opt-in there."""
    from ferkit.train import epoch as epoch_module

    calls = []
    real = epoch_module.prefetched
    monkeypatch.setattr(epoch_module, "prefetched", lambda *a, **k: calls.append(1) or real(*a, **k))
    recipe = dataclasses.replace(get_recipe("fer2013-default-modres18-occ-v3"), epochs=2, batch_size=8, init_weights=None,
                                 model_kwargs={"channels": [8, 16, 16, 32]}, augment=AugmentConfig(occlusion_p=0.5))
    with one_thread():
        run, state = make_run(recipe, tmp_path)
        train_one_epoch(run, state, 0)
        assert calls == []
        train_one_epoch(run, state, 1, prefetch=True)
        assert calls == [1]


def test_epoch_cpu_time_leaves_out_time_the_process_waited(tmp_path):
    """cpu_time_s is the training cost in core-seconds: a pause (here a sleep per batch) counts in the wall time only."""
    recipe = dataclasses.replace(get_recipe("fer2013-default-modres18-occ-v3"), epochs=1, batch_size=8, init_weights=None,
                                 model_kwargs={"channels": [8, 16, 16, 32]}, augment=AugmentConfig(occlusion_p=0.5))
    with one_thread():
        run, state = make_run(recipe, tmp_path)
        make = run.make_batch

        class Sleepy:
            can_prefetch = False

            def __call__(self, *args, **kwargs):
                time.sleep(0.1)
                return make(*args, **kwargs)

        run.make_batch = Sleepy()
        row = train_one_epoch(run, state, 0)
    slept = 0.1 * run.steps
    assert 0 < row["cpu_time_s"] <= row["epoch_time_s"] - 0.8 * slept
