"""Data-parallel training with 2 gloo processes (what torchrun starts), against 1 process with the whole batch."""

import json

import numpy as np
import pytest
import torch

from data.ddp_worker import launch
from ferkit.errors import ConfigError
from ferkit.train import distributed
from ferkit.train.distributed import DistContext

# Per-sample normalisation (data.ddp_worker.batch_free_norms) makes 2 x 4 the same computation as 1 x 8 up to
# the order of float additions in the gradient all-reduce; measured differences are ~1e-6 relative after 9 Adam steps.
LOSS_RTOL = 1e-4
RECIPE = {"epochs": 3, "batch_size": 8}


def losses(out) -> list[float]:
    return [row["train_loss"] for row in json.loads((out / "result.json").read_text())["history"]]


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "w1"
    assert launch(1, {"out": str(out), "recipe": RECIPE, "batch_free_norms": True}) == [0]
    return out


def test_two_ranks_match_one_rank_with_the_whole_batch_and_write_once(one_rank, tmp_path):
    out = tmp_path / "w2"
    assert launch(2, {"out": str(out), "recipe": RECIPE, "batch_free_norms": True}) == [0, 0]
    np.testing.assert_allclose(losses(out), losses(one_rank), rtol=LOSS_RTOL)
    assert losses(out)[-1] < losses(out)[0]
    # Rank 0 alone wrote the run: one checkpoint pair, one log with a row per epoch, no temporary files left.
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "curves.png", "last.pt", "metrics.jsonl", "recipe.json", "result.json", "train_summary.json"]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["distributed"] == {"world_size": 2, "backend": "gloo", "global_batch": 8, "per_rank_batch": 4, "sync_batchnorm": False}
    assert "effective batch 8 = 2 x 4 per rank" in (tmp_path / "w2.rank0.log").read_text()
    assert (tmp_path / "w2.rank1.log").read_text() == ""
    # Validation gathered from both ranks: 7 images (4 + 3), scored once each, same accuracy as one rank.
    one = [r["val_accuracy"] for r in json.loads((one_rank / "result.json").read_text())["history"]]
    assert [r["val_accuracy"] for r in json.loads((out / "result.json").read_text())["history"]] == one


def test_run_killed_mid_epoch_resumes_with_another_number_of_ranks(one_rank, tmp_path):
    out = tmp_path / "killed"
    # 24 images / batch 8 = 3 steps per epoch: both ranks die hard at the 2nd step of epoch 2.
    job = {"out": str(out), "recipe": RECIPE, "batch_free_norms": True}
    assert launch(2, {**job, "kill_at_step": 5}) == [137, 137]
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1]
    assert launch(1, {**job, "resume": True}) == [0]
    assert "resumed from" in (tmp_path / "killed.rank0.log").read_text()
    # Epoch 1 on 2 ranks, epochs 2-3 on 1 rank: the same run as 1 rank throughout.
    np.testing.assert_allclose(losses(out), losses(one_rank), rtol=LOSS_RTOL)


def test_shards_and_gather_cover_every_sample_once():
    for n, world in ((7, 2), (10, 3), (2, 4), (0, 2)):
        covered = np.concatenate([np.arange(n)[distributed.shard_slice(DistContext(r, world, r, "gloo"), n)] for r in range(world)])
        np.testing.assert_array_equal(covered, np.arange(n))
    # Every rank takes whole builder batches in turn: concatenated they are the global batches of one rank.
    from ferkit.data.batching import ShuffleBatches

    labels = np.zeros(20, np.int64)
    one = list(distributed.local_batches(DistContext(0, 1, 0, "gloo"), ShuffleBatches(labels, 8), np.random.default_rng(), torch.Generator(), 0, 3))
    two = [list(distributed.local_batches(DistContext(r, 2, r, "gloo"), ShuffleBatches(labels, 4), np.random.default_rng(), torch.Generator(), 0, 3))
           for r in range(2)]
    assert len(one) == len(two[0]) == len(two[1]) == 2
    for step, batch in enumerate(one):
        np.testing.assert_array_equal(np.concatenate([two[0][step], two[1][step]]), batch)


def test_bad_launch_options_are_clear_errors():
    ctx = DistContext(0, 3, 0, "gloo")
    with pytest.raises(ConfigError, match="multiple of 3"):
        distributed.per_rank_batch(ctx, 16)
    with pytest.raises(ConfigError, match="cannot feed 3 ranks"):
        distributed.steps_per_epoch(ctx, 2)
    with pytest.raises(ConfigError, match="needs a distributed run"):
        distributed.wrap_model(DistContext(), torch.nn.Linear(2, 2), torch.device("cpu"), sync_batchnorm=True)
    with pytest.raises(ConfigError, match="CUDA"):
        distributed.wrap_model(ctx, torch.nn.Linear(2, 2), torch.device("cpu"), sync_batchnorm=True)
