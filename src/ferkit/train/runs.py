"""Warm starts name a run: ``run:<run>/<file>``, resolved against a runs directory, not the working directory.

A recipe that continues another run's training says which run (``run:fer2013-ce-modres18/best.pt``);
where runs live is the user's choice: ``--runs-dir``, else ``$FERKIT_RUNS_DIR``, else ``runs/``. Any
other ``init_weights`` value (from ``--set init_weights=PATH``) is a file path and is used as given.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path, PurePosixPath

from ferkit.errors import CheckpointError, ConfigError
from ferkit.train.config import Recipe

RUN_PREFIX = "run:"
RUNS_DIR_ENV = "FERKIT_RUNS_DIR"
DEFAULT_RUNS_DIR = "runs"


def runs_dir(explicit: str | Path | None = None) -> Path:
    """The runs directory: ``explicit``, else ``$FERKIT_RUNS_DIR``, else ``runs`` (relative, as before)."""
    return Path(explicit or os.environ.get(RUNS_DIR_ENV) or DEFAULT_RUNS_DIR)


def is_run_spec(value: str | None) -> bool:
    return bool(value) and value.startswith(RUN_PREFIX)  # type: ignore[union-attr]


def check_run_spec(value: str, where: str) -> PurePosixPath:
    """The ``<run>/<file>`` part of a ``run:`` warm start; recipe files may name nothing else."""
    if not value.startswith(RUN_PREFIX):
        raise ConfigError(f"{where} must name a run, e.g. \"run:fer2013-ce-modres18/best.pt\" (resolved in the runs directory), "
                          f"not a path ({value!r}); a path can still be given with --set init_weights=PATH")
    relative = PurePosixPath(value[len(RUN_PREFIX):])
    if relative.is_absolute() or len(relative.parts) < 2 or ".." in relative.parts:
        raise ConfigError(f"{where}: {value!r} must look like run:<run name>/<file in the run>, e.g. run:fer2013-ce-modres18/best.pt")
    return relative


def resolve_run_path(value: str, directory: str | Path | None = None) -> Path:
    """The file a ``run:<run>/<file>`` warm start names, in ``runs_dir(directory)``; it must exist."""
    relative = check_run_spec(value, "warm start")
    root = runs_dir(directory)
    run = root / relative.parts[0]
    if not run.is_dir():
        raise CheckpointError(f"warm start {value!r}: no run {relative.parts[0]!r} in the runs directory {root} "
                              f"(pass --runs-dir or set {RUNS_DIR_ENV} to the directory that holds it, or train that run first)")
    path = root.joinpath(*relative.parts)
    if not path.is_file():
        raise CheckpointError(f"warm start {value!r}: the run {run} has no {PurePosixPath(*relative.parts[1:])} (has it finished?)")
    return path


def resolve_warm_start(recipe: Recipe, directory: str | Path | None = None) -> Recipe:
    """``recipe`` with a ``run:`` warm start replaced by the file it names (what the run records and loads).

    A file below the working directory is recorded relative to it (``runs/x/best.pt``, as runs and
    result files have always spelt it), so results written from a checkout name no machine's paths.
    """
    if not is_run_spec(recipe.init_weights):
        return recipe
    path = resolve_run_path(recipe.init_weights, directory)  # type: ignore[arg-type]
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        path = path.relative_to(Path.cwd())
    return dataclasses.replace(recipe, init_weights=str(path))


def keep_recorded_warm_start(recipe: Recipe, run_dir: str | Path) -> Recipe:
    """Keep the warm-start path an existing run recorded when it names the same file.

    Resuming compares the whole recipe with the one in last.pt; a run started with
    ``runs/x/best.pt`` and resumed with the runs directory given as an absolute path names the same
    file with another string, and must still resume.
    """
    if not recipe.init_weights:
        return recipe
    recorded = (recorded_recipe(run_dir) or {}).get("init_weights")
    if recorded and recorded != recipe.init_weights and _same_file(recorded, recipe.init_weights):
        return dataclasses.replace(recipe, init_weights=recorded)
    return recipe


def recorded_recipe(run_dir: str | Path) -> dict | None:
    """The recipe an existing run recorded (its recipe.json); None when it has none or it cannot be read
    (train() reports an unreadable run when it resumes)."""
    recorded_file = Path(run_dir) / "recipe.json"
    if not recorded_file.is_file():
        return None
    try:
        recorded = json.loads(recorded_file.read_text())
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False
