"""Seeded one-epoch runs of representative recipes on tiny generated data, recorded before the training
loop was split into modules (issue 19) and replayed by tests/test_train_loop.py afterwards.

``python tests/data/loop_reference.py`` (from the repository root, with ``PYTHONPATH=src``) rewrites
tests/fixtures/one_epoch_reference.json and tests/fixtures/legacy/last.pt. Only run it on code whose
results you mean to make the new reference: the point of the files is that they came from the old loop.
``--case NAME --reason TEXT`` re-records one case only, for a deliberate change of what that recipe trains
(the reason and commit are kept in the file under "rerecorded"); the other cases and last.pt stay as they were.
Everything runs on one CPU thread with AVX2 kernels (ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2, as the suite
pins them in tests/conftest.py) so the float reductions, and hence the numbers, are the same each time and on each host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REFERENCE_PATH = FIXTURES / "one_epoch_reference.json"
LEGACY_DIR = FIXTURES / "legacy"
TEACHER = "{teacher}"  # stands for the best.pt of the "ce_plain" case in distillation recipes
TIMING_KEYS = ("epoch_time_s", "cpu_time_s", "images_per_s", "teacher_time_s", "teacher_forward_s")

# (case, recipe name, changes): each shipped recipe family the loop must keep training the same way.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("ce_plain", "fer2013-ce-modres18-v1", {}),
    ("ce_occluders", "fer2013-default-modres18-occ-v3", {}),
    ("occnet_single_mask", "fer2013-occnet-single-v1", {}),
    ("occnet_double_mask", "ckplus-occnet-double-v3", {}),
    ("tlstn_triplet", "fer2013-tlstn-v2", {"sampler_kwargs": {}}),
    ("center_loss", "fer2013-loss-center-v2", {}),
    ("embed_triplet_pk", "fer2013-embed-triplet-v2", {"sampler_kwargs": {"samples_per_class": 4}}),
    ("distill_cached", "fer2013-cpu-study-modres18-kd-v1", {"loss_kwargs": {"teacher": TEACHER, "teacher_mode": "cached", "temperature": 4.0, "alpha": 0.5, "label_smoothing": 0.1}}),
    ("distill_online", "fer2013-cpu-study-modres18-kd-v1", {"loss_kwargs": {"teacher": TEACHER, "teacher_mode": "online", "temperature": 4.0, "alpha": 0.5, "label_smoothing": 0.1}}),
]
# A tiny model of the long CPU runs' recipe (SGD nesterov one-cycle, label smoothing, occluders, erasing):
# last.pt after 2 of 3 epochs stays well under 500 KB.
LEGACY_RECIPE = ("fer2013-cpu-study-modres18-v1", {"model_kwargs": {"dropout": 0.2, "channels": [8, 16, 16, 32]}, "epochs": 3})


def reference_split(n_per_class: int = 8, classes: int = 3):
    """24 training and 12 validation images of three learnable patterns, (48, 48) uint8."""
    from data.fixtures import class_pattern
    from ferkit.data import FaceDataset
    from ferkit.data.registry import ExperimentSplit

    names = ("anger", "happiness", "sadness")[:classes]

    def make(n: int, seed: int, name: str) -> FaceDataset:
        rng = np.random.default_rng(seed)
        labels = np.repeat(np.arange(classes), n)
        images = np.stack([class_pattern(int(c), rng) for c in labels])
        return FaceDataset(images, labels.astype(np.int64), names, tuple(f"{name}{i}" for i in range(len(labels))), None, name)

    train_set, val_set = make(n_per_class, 0, "ref-train"), make(n_per_class // 2, 1, "ref-val")
    return ExperimentSplit("ref", train_set, val_set, val_set)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One intra-op thread while inside: the same reduction order as when the references were made."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def weights_digest(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """sha256 of every tensor's bytes in key order, and the float64 sum of all floating values."""
    digest, total = hashlib.sha256(), 0.0
    for key in sorted(state):
        value = state[key].detach().cpu().contiguous()
        digest.update(key.encode())
        digest.update(value.numpy().tobytes())
        if torch.is_floating_point(value):
            total += float(value.double().sum())
    return {"sha256": digest.hexdigest(), "sum": total}


def case_recipe(name: str, changes: dict[str, Any]) -> dict[str, Any]:
    from ferkit.train.recipes import get_recipe

    recipe = get_recipe(name)
    small = {"epochs": 1, "batch_size": 8, "init_weights": None, **changes}
    return dataclasses.replace(recipe, **small).to_dict()


def run_recorded(recipe_dict: dict[str, Any], out_dir: Path, teacher: Path | None = None, *, resume: bool = False, stop_after: int | None = None) -> dict[str, Any]:
    """Train ``recipe_dict`` on ``reference_split()`` and return what the reference keeps: the epoch rows
    without timings, the selection, and digests of best.pt / last.pt weights."""
    from ferkit.artifacts import load_checkpoint
    from ferkit.train.config import recipe_from_dict
    from ferkit.train.loop import train

    data = json.loads(json.dumps(recipe_dict).replace(json.dumps(TEACHER), json.dumps(str(teacher))))
    recipe = recipe_from_dict(data)

    class Stop(Exception):
        pass

    def log(line: str) -> None:
        if stop_after is not None and line.startswith(f"epoch {stop_after}/"):
            raise Stop  # after that epoch's checkpoint was written
    with one_thread():
        try:
            result = train(recipe, reference_split(), out_dir, device="cpu", progress=False, log=log, resume=resume)
        except Stop:
            return {}
    history = [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in result.history]
    return {
        "history": history, "best_epoch": result.best_epoch, "best_val": result.best_val,
        # A resumed run writes best.pt only when one of its own epochs improves.
        "best_weights": weights_digest(load_checkpoint(result.best_path)["model"]) if result.best_path.exists() else None,
        "last_weights": weights_digest(load_checkpoint(result.last_path)["model"]),
    }


def make_references(workdir: Path) -> dict[str, Any]:
    cases: dict[str, Any] = {}
    for case, name, changes in CASES:
        recipe = case_recipe(name, changes)
        teacher = workdir / "ce_plain" / "best.pt"
        cases[case] = {"recipe_name": name, "recipe": recipe, **run_recorded(recipe, workdir / case, teacher)}
        print(case, cases[case]["history"][-1]["train_loss"], file=sys.stderr)
    return cases


def make_legacy(workdir: Path) -> dict[str, Any]:
    """last.pt after 2 of 3 epochs (copied into the fixtures), then what today's code does resuming it."""
    import shutil

    name, changes = LEGACY_RECIPE
    recipe = case_recipe(name, changes)
    full = run_recorded(recipe, workdir / "legacy-full")
    run_recorded(recipe, workdir / "legacy", stop_after=2)
    LEGACY_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(workdir / "legacy" / "last.pt", LEGACY_DIR / "last.pt")
    resumed = run_recorded(recipe, workdir / "legacy", resume=True)
    return {"recipe_name": name, "recipe": recipe, "uninterrupted": full, "resumed": resumed}


def rerecord(case: str, reason: str) -> None:
    """Re-record one case of the reference file (a deliberate behaviour change), keeping every other entry."""
    import subprocess
    import tempfile

    from ferkit.io_utils import atomic_write_text

    payload = json.loads(REFERENCE_PATH.read_text())
    name, changes = next((n, c) for k, n, c in CASES if k == case)
    recipe = case_recipe(name, changes)
    with tempfile.TemporaryDirectory() as tmp:
        payload["cases"][case] = {"recipe_name": name, "recipe": recipe, **run_recorded(recipe, Path(tmp) / case, Path(tmp) / "ce_plain" / "best.pt")}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    payload.setdefault("rerecorded", {})[case] = {"commit": commit, "torch": torch.__version__, "reason": reason}
    atomic_write_text(REFERENCE_PATH, json.dumps(payload, indent=1) + "\n")
    print(f"re-recorded {case} in {REFERENCE_PATH}", file=sys.stderr)


def main() -> None:
    import subprocess
    import tempfile

    if torch.backends.cpu.get_cpu_capability() != "AVX2":  # what the suite pins (tests/conftest.py) and compares with
        sys.exit("record with AVX2 kernels: ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 PYTHONPATH=src python tests/data/loop_reference.py")
    if "--case" in sys.argv:
        rerecord(sys.argv[sys.argv.index("--case") + 1], sys.argv[sys.argv.index("--reason") + 1])
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        payload = {
            "made_by": "PYTHONPATH=src python tests/data/loop_reference.py (one CPU thread), with the loop of this commit",
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
            "torch": torch.__version__,
            "cases": make_references(work),
            "legacy_resume": make_legacy(work),
        }
    from ferkit.io_utils import atomic_write_text

    atomic_write_text(REFERENCE_PATH, json.dumps(payload, indent=1) + "\n")
    print(f"wrote {REFERENCE_PATH} and {LEGACY_DIR / 'last.pt'}", file=sys.stderr)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
