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
