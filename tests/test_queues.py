"""The resumable training queues (benchmarks/queue_*.sh) run unattended for hours: a recipe tag they name that no
recipe file defines would fail only when its turn comes, so every tag is checked here."""

import re
import subprocess
from pathlib import Path

import pytest

from ferkit.train.recipes import RECIPES

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
QUEUES = sorted(BENCHMARKS.glob("queue_*.sh"))
TAG = re.compile(r"\b(?:fer2013|ckplus)-[a-z0-9-]*?-v\d+\b")  # a recipe tag, alone or as the start of a result name


def recipe_tags(script: Path) -> set[str]:
    """Tags in the script's commands: comments and the result names given to --name are left out."""
    tags = set()
    for line in script.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        tags |= set(TAG.findall(re.sub(r"--name \S+", "", line.split(" # ")[0])))
    return tags


def test_the_tag_pattern_reads_recipes_out_of_result_names():
    line = 'run ckplus-tlstn-ce-v2-fer2013init-e60__kfold10 ckplus-tlstn-ce-v2 --set init_weights=runs/start/fer2013-modres18-v5best.pt --name x-v9'
    assert TAG.findall(line) == ["ckplus-tlstn-ce-v2", "ckplus-tlstn-ce-v2"]


@pytest.mark.parametrize("script", QUEUES, ids=lambda p: p.name)
def test_every_recipe_a_queue_names_is_defined_and_the_script_parses(script):
    assert set(recipe_tags(script)) - set(RECIPES) == set()
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def run_after_long(root: Path, fail: str = "", status: int = 0) -> list[str]:
    """Runs queue_after_long.sh in a copy of the repository layout under ROOT whose python and ferkit are stubs
    that log their arguments (and fail when they contain FAIL); returns the commands it ran."""
    log = root / "calls.log"
    log.unlink(missing_ok=True)
    env = {"PATH": "/usr/bin:/bin", "PY": str(root / "stub"), "FERKIT": str(root / "stub"), "LONG": "fer2013-test-long-v1",
           "FAIL": fail, "CALLS": str(log)}
    done = subprocess.run(["bash", str(root / "benchmarks/queue_after_long.sh")], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == status, done.stdout + done.stderr
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def after_long_layout(tmp_path: Path) -> Path:
    (tmp_path / "benchmarks/results").mkdir(parents=True)
    for name in ("queue_after_long.sh", "queue_lib.sh"):
        (tmp_path / "benchmarks" / name).write_text((BENCHMARKS / name).read_text())
    for name in ("queue_ckplus_transfer.sh", "queue_ablations.sh", "queue_fer2013_full.sh"):
        (tmp_path / "benchmarks" / name).write_text(f'echo "{name}" >> "$CALLS"\n')
    (tmp_path / "benchmarks/results/fer2013-test-long-v1.json").write_text("{}")
    for path in ("runs/teachers/ferkit-default-v5.pt", *(f"runs/start/v5-member{i}.pt" for i in range(3)), "runs/fer2013-test-long-v1/best.pt"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("weights")
    stub = tmp_path / "stub"
    stub.write_text('#!/bin/bash\necho "$*" >> "$CALLS"\n[ -z "$FAIL" ] || [[ "$*" != *"$FAIL"* ]]\n')
    stub.chmod(0o755)
    return tmp_path


def test_the_after_long_queue_takes_up_where_it_was_cut_off(after_long_layout: Path):
    """A session may end while the queue runs: the next start must neither skip the steps not done (the old
    queue exited once the selection was written) nor redo the ones done."""
    first = run_after_long(after_long_layout, fail="--sections crops")
    assert any("ship_default_model.py" in call for call in first)
    assert any("--sections crops" in call for call in first)
    assert any("occluder_recall.py" in call for call in first)  # a failed step does not stop the ones after it
    assert "queue_ckplus_transfer.sh" in first
    again = run_after_long(after_long_layout)
    scripts = [call.split()[0] for call in again]
    assert [call for call in again if "--sections crops" in call]  # the failed step, run again
    assert "benchmarks/ship_default_model.py" not in scripts and "evaluate" not in scripts
    assert not any("speed.py" in call or "heldout" in call for call in again)
    (after_long_layout / "runs/after_long/choose-default.done").unlink()
    third = run_after_long(after_long_layout)  # a new choice: everything measured on the old one runs again
    assert any("speed.py" in call for call in third) and any(call.startswith("evaluate") for call in third)


def test_without_a_finished_long_run_the_cores_go_to_the_other_queues(after_long_layout: Path):
    """runs/ lost after the long run wrote its result (no best.pt to choose from): nothing is chosen, and both
    cores take the CK+ / ablation / full-length queues instead of idling for the rest of the session."""
    (after_long_layout / "runs/fer2013-test-long-v1/best.pt").unlink()
    calls = run_after_long(after_long_layout, status=1)
    assert not any("ship_default_model.py" in call for call in calls)
    assert sorted(calls) == ["queue_ablations.sh", "queue_ckplus_transfer.sh", "queue_fer2013_full.sh", "queue_fer2013_full.sh"]
