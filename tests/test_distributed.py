"""Data-parallel training with 2 gloo processes (what torchrun starts), against 1 process with the whole batch."""

import dataclasses
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


def test_batchnorm_ranks_end_each_epoch_with_rank_0s_buffers_and_metrics(tmp_path):
    # Real BatchNorm: each rank's last batch updates its own running statistics after DDP's broadcast, so without the
    # end-of-epoch broadcast the ranks validate (nearest centroid, every rank) different models and may disagree.
    out = tmp_path / "bn"
    recipe = {**RECIPE, "epochs": 2, "val_classifier": "nearest_centroid", "schedule": "plateau"}
    assert launch(2, {"out": str(out), "recipe": recipe, "report_ranks": True}) == [0, 0]
    ranks = [json.loads((tmp_path / f"bn.rank{r}.json").read_text()) for r in range(2)]
    assert any("running_mean" in name for name in ranks[0]["buffers"])
    assert ranks[0]["buffers"] == ranks[1]["buffers"]
    validation = [[{k: v for k, v in row.items() if k.startswith("val_")} for row in rank["history"]] for rank in ranks]
    assert validation[0] == validation[1] and "val_accuracy" in validation[0][-1]
    # rank 0's buffers are the ones saved
    from ferkit.artifacts import load_checkpoint

    saved = load_checkpoint(out / "last.pt", map_location="cpu")["model"]
    name = next(n for n in ranks[0]["buffers"] if "running_var" in n)
    np.testing.assert_allclose(saved[name].numpy(), np.asarray(ranks[1]["buffers"][name]), rtol=0, atol=0)


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


def test_pk_batches_that_do_not_add_up_to_the_global_batch_are_refused():
    # fer2013-embed-triplet-v1: batch 112, K=16. On 2 ranks each would build 56 // 16 = 3 classes x 16 = 48 rows (96 in all).
    from ferkit.data.batching import build_batches
    from ferkit.train.recipes import get_recipe
    from ferkit.train.setup import check_global_batch

    recipe = get_recipe("fer2013-embed-triplet-v1")
    labels = np.repeat(np.arange(7), 40)
    two = DistContext(0, 2, 0, "gloo")
    with pytest.raises(ConfigError, match=r"global batch of 96, not batch_size 112.*multiple of W x samples_per_class = 32.*batch_size=96"):
        check_global_batch(recipe, build_batches("pk", labels, 56, samples_per_class=16), two)
    check_global_batch(recipe, build_batches("pk", labels, 112, samples_per_class=16), DistContext())  # one process: 7 x 16
    fits = dataclasses.replace(recipe, batch_size=128)
    check_global_batch(fits, build_batches("pk", labels, 64, samples_per_class=16), two)  # 2 x (4 x 16)
    check_global_batch(fits, build_batches("triplet", labels, 64), two)  # layouts other than rows are whole builder batches


def test_a_launch_without_a_rendezvous_address_is_a_clear_error_before_any_wait(monkeypatch):
    monkeypatch.delenv("FERKIT_DIST_TIMEOUT_S", raising=False)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.setenv("MASTER_PORT", "29500")
    with pytest.raises(ConfigError, match="MASTER_ADDR is not: launch with torchrun"):
        distributed.init_from_env("cpu")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "port")
    with pytest.raises(ConfigError, match="MASTER_PORT must be a port number"):
        distributed.init_from_env("cpu")
    # torch's own ValueError (here a RANK that is not a number) comes back as ferkit's error, after the line that says where
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("RANK", "x")
    lines: list[str] = []
    with pytest.raises(ConfigError, match=r"cannot join the process group.*invalid literal.*torchrun"):
        distributed.init_from_env("cpu", log=lines.append)
    assert lines == ["rank x: joining 2 ranks at 127.0.0.1:29500 (waiting up to 600 s for all of them; FERKIT_DIST_TIMEOUT_S changes it)"]
    assert not torch.distributed.is_initialized()


def test_the_group_timeout_is_ten_minutes_unless_set(monkeypatch):
    monkeypatch.delenv("FERKIT_DIST_TIMEOUT_S", raising=False)
    assert distributed.group_timeout().total_seconds() == 600
    monkeypatch.setenv("FERKIT_DIST_TIMEOUT_S", "90")
    assert distributed.group_timeout().total_seconds() == 90
    for bad in ("0", "-5", "ten", "inf"):
        monkeypatch.setenv("FERKIT_DIST_TIMEOUT_S", bad)
        with pytest.raises(ConfigError, match="FERKIT_DIST_TIMEOUT_S must be a positive number"):
            distributed.group_timeout()


def test_rank_0_alone_scores_and_writes_the_teacher_cache_the_others_read_it_after_a_barrier(monkeypatch, tmp_path):
    from data.ddp_worker import tiny_split
    from ferkit.losses.distill import Distillation
    from ferkit.train import setup, teacher
    from ferkit.train.config import Recipe

    events: list[str] = []
    monkeypatch.setattr(teacher, "build_teacher_signal", lambda *args, **kwargs: events.append("build") or "signal")
    monkeypatch.setattr(distributed, "barrier", lambda ctx: events.append("barrier"))
    criterion, recipe = Distillation(teacher="teacher.pt"), Recipe(name="distill-test")
    for rank, order in ((0, ["build", "barrier"]), (1, ["barrier", "build"])):
        events.clear()
        ctx = DistContext(rank, 2, rank, "gloo")
        assert setup._teacher(criterion, recipe, tiny_split(), torch.device("cpu"), tmp_path, ctx, lambda line: None) == "signal"
        assert events == order
    events.clear()
    online = Distillation(teacher="teacher.pt", teacher_mode="online")  # no cache: each rank keeps its own teacher, no barrier
    setup._teacher(online, recipe, tiny_split(), torch.device("cpu"), tmp_path, DistContext(1, 2, 1, "gloo"), lambda line: None)
    assert events == ["build"]
