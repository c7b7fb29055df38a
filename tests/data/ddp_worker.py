"""Ranks of a data-parallel training run for tests: what torchrun would start, as spawned processes.

Each process gets torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), joins the
gloo group through ``ferkit.train.distributed.init_from_env`` and calls ``train`` on a tiny dataset.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def batch_free_norms(model) -> None:
    """BatchNorm -> GroupNorm/LayerNorm: normalisation per sample, so the loss does not depend on how a
    global batch is split over ranks and one rank with the whole batch must match W ranks exactly."""
    import torch.nn as nn

    for name, child in list(model.named_children()):
        if isinstance(child, nn.BatchNorm2d):
            setattr(model, name, nn.GroupNorm(1, child.num_features))
        elif isinstance(child, nn.BatchNorm1d):
            setattr(model, name, nn.LayerNorm(child.num_features))
        else:
            batch_free_norms(child)


def tiny_split(n_per_class: int = 8, classes: int = 3, val_size: int = 7):
    from data.fixtures import class_pattern
    from ferkit.data import FaceDataset
    from ferkit.data.registry import ExperimentSplit

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(classes), n_per_class)
    images = np.stack([class_pattern(int(c), rng) for c in labels])
    train = FaceDataset(images, labels.astype(np.int64), ("anger", "happiness", "sadness")[:classes], tuple(map(str, range(len(labels)))), None, "tiny")
    val = FaceDataset(images[:val_size], labels[:val_size].astype(np.int64), train.class_names, train.ids[:val_size], None, "tiny-val")
    return ExperimentSplit("tiny", train, val, val)


def rank_main(job: dict) -> None:
    """One rank, configured by torchrun's environment variables (set by ``launch``)."""
    import torch

    torch.set_num_threads(1)
    from ferkit.train import distributed, loop
    from ferkit.train.config import AugmentConfig, Recipe

    if job.get("kill_at_step"):  # a hard crash (like SIGKILL) at this batch of the run, on every rank
        from ferkit.train import batches

        real, calls = batches.to_model_input, [0]

        def crashing(*args, **kwargs):
            calls[0] += 1
            if calls[0] == job["kill_at_step"]:
                os._exit(137)
            return real(*args, **kwargs)

        batches.to_model_input = crashing
    ctx = distributed.init_from_env("cpu")
    no_aug = AugmentConfig(hflip=False, rotation_deg=0, scale=0, translate=0, brightness=0, contrast=0, erasing_p=0)
    recipe = dataclasses.replace(Recipe(name="ddp-test", model="modified_resnet18", optimizer="adam", lr=3e-3, weight_decay=0.0,
                                        schedule="none", augment=no_aug), **job["recipe"])
    log_path = Path(job["out"]).parent / f"{Path(job['out']).name}.rank{ctx.rank}.log"
    models = []

    def model_init(model) -> None:  # keeps the trained module, whose buffers each rank reports
        if job.get("batch_free_norms"):
            batch_free_norms(model)
        models.append(model)

    with open(log_path, "a") as log_file:
        result = loop.train(recipe, tiny_split(), job["out"], device="cpu", resume=job.get("resume", False), progress=False,
                            log=lambda line: print(line, file=log_file, flush=True), model_init=model_init)
    if ctx.is_main:
        Path(job["out"], "result.json").write_text(json.dumps({"history": result.history}))
    if job.get("report_ranks"):  # what each rank ended with: its buffers and its history (validation metrics included)
        report = {"buffers": {name: b.tolist() for name, b in models[0].named_buffers()}, "history": result.history}
        Path(job["out"]).parent.joinpath(f"{Path(job['out']).name}.rank{ctx.rank}.json").write_text(json.dumps(report))
    distributed.close()


def launch(world: int, job: dict, timeout: float = 120) -> list[int]:
    """Start ``world`` ranks of ``job`` as torchrun would (one process each, RANK/WORLD_SIZE/LOCAL_RANK/MASTER_*
    in the environment) and wait for them; returns their exit codes."""
    port = free_port()
    tests = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent / "src"), str(tests)]), "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port), "WORLD_SIZE": str(world), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "data.ddp_worker", json.dumps(job)], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)})
             for r in range(world)]
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    return [abs(c) if c < 0 else c for c in codes]


if __name__ == "__main__":
    rank_main(json.loads(sys.argv[1]))
