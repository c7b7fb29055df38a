"""Ensemble checkpoints: member checkpoints combined into one ``model_name="ensemble"`` checkpoint, and back.

The network (``ferkit.models.ensemble.ProbabilityEnsemble``) averages its members' probabilities; this module
only builds and splits the payloads, which ``save_checkpoint`` writes and ``load_model`` / ``load_any`` read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ferkit.artifacts.checkpoint import load_checkpoint
from ferkit.artifacts.storage import compress_weights, model_state
from ferkit.errors import CheckpointError, ConfigError

MEMBER_FIELDS = ("model_name", "model_kwargs")
# Splits drawn from the data with the recipe's seed (k-fold folds, random and grouped hold-outs): the same name under
# another seed or protocol holds other test subjects or images. FER2013's, RAF-DB's ... official splits are fixed.
SEED_DRAWN_SPLIT = re.compile(r"fold\d+|random\d+|grouped\d+|holdout")


def _as_key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


def _member_meta(path: str | Path, payload: dict[str, Any]) -> dict[str, Any]:
    recipe = payload.get("recipe") or {}
    return {"source_checkpoint": str(path), "recipe": recipe.get("name", ""), "recipe_version": recipe.get("version"), "seed": recipe.get("seed"),
            "epochs": recipe.get("epochs"), "epoch": payload.get("epoch"), "val_metric": payload.get("val_metric"), "split": payload.get("split")}


def check_same_split(paths: Sequence[str | Path], payloads: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Refuse members trained on different splits; returns what the ensemble records of their split.

    Why: the ensemble keeps one split, and ``ferkit evaluate`` scores that split's test set; a member trained
    on another fold (or another seed's fold) trained on some of those test subjects. Members of one split,
    e.g. seeds of a recipe on FER2013, are the usual ensemble. Returns the common ``protocol`` and ``seed``
    where every member recorded the same one, so evaluation rebuilds the members' folds.
    """
    recipes = [payload.get("recipe") or {} for payload in payloads]
    splits = [payload.get("split") for payload in payloads]
    if len(set(splits)) > 1:
        listed = ", ".join(f"{path}: {split}" for path, split in zip(paths, splits))
        raise CheckpointError(f"ensemble members were trained on different splits ({listed}); scored on any one of them, the ensemble "
                              "would include members that trained on its test subjects. Ensemble members of one split (e.g. seeds on one fold)")
    seeds = {recipe.get("seed") for recipe in recipes}
    protocols = {recipe.get("protocol") for recipe in recipes} - {None}  # null: the dataset's default protocol
    if splits[0] is not None and SEED_DRAWN_SPLIT.fullmatch(str(splits[0])) and (len(seeds) > 1 or len(protocols) > 1):
        listed = ", ".join(f"{path}: seed {recipe.get('seed')}, protocol {recipe.get('protocol')}" for path, recipe in zip(paths, recipes))
        raise CheckpointError(f"ensemble members were trained on {splits[0]} drawn with different seeds or protocols ({listed}); each draw "
                              f"puts other subjects or images in {splits[0]}'s test split, so the members trained on each other's test data")
    recorded: dict[str, Any] = {}
    if len(protocols) == 1:
        recorded["protocol"] = next(iter(protocols))
    if len(seeds) == 1 and None not in seeds:
        recorded["seed"] = next(iter(seeds))
    return recorded


def _common_fingerprint(payloads: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The members' training-data fingerprint when they all recorded the same one (evaluation compares it with the data)."""
    fingerprints = [payload.get("data_fingerprint") for payload in payloads]
    return fingerprints[0] if fingerprints[0] and all(f == fingerprints[0] for f in fingerprints) else None


def ensemble_checkpoint(paths: Sequence[str | Path], *, storage: str = "fp32") -> dict[str, Any]:
    """One checkpoint payload from member checkpoints; refuses members whose labels, input format or split differ.

    ``storage``: fp32, fp16 or int8 weights (see ``storage.compress_weights``).
    """
    if isinstance(paths, (str, Path)) or not all(isinstance(path, (str, Path)) for path in paths):
        raise ConfigError(f"paths must be a list of member checkpoint files, got {paths!r}")
    if len(paths) < 2:
        raise ConfigError(f"an ensemble needs at least two member checkpoints, got {len(paths)}")
    payloads = [load_checkpoint(path) for path in paths]
    first = payloads[0]
    split_recipe = check_same_split(paths, payloads)
    for path, payload in zip(paths[1:], payloads[1:]):
        for key in ("class_names", "in_chans", "image_size"):
            if _as_key(payload[key]) != _as_key(first[key]):
                raise CheckpointError(f"{path}: {key} {payload[key]} differs from {paths[0]}'s {first[key]}; ensemble members must agree")
    state: dict[str, torch.Tensor] = {}
    for index, payload in enumerate(payloads):
        if payload["model_name"] == "ensemble":
            raise CheckpointError(f"{paths[index]} is already an ensemble; list its members instead")
        for key, value in model_state(payload).items():
            state[f"members.{index}.{key}"] = value
    weights, scales = compress_weights(state, storage)
    members_meta = [_member_meta(path, payload) for path, payload in zip(paths, payloads)]
    tags = [f"{m['recipe']}-v{m['recipe_version']}" if m["recipe_version"] else m["recipe"] or "model" for m in members_meta]
    return {
        "model_name": "ensemble",
        "model_kwargs": {"members": [{field: payload[field] for field in MEMBER_FIELDS} for payload in payloads]},
        "in_chans": first["in_chans"],
        "image_size": first["image_size"],
        "class_names": list(first["class_names"]),
        "recipe": {"name": "ensemble(" + " + ".join(tags) + ")", **split_recipe},
        "split": first.get("split"),
        "train_size": first.get("train_size"),
        "data_fingerprint": _common_fingerprint(payloads),
        "selected_on": first.get("selected_on"),
        "members": members_meta,
        "model": weights,
        **({"model_scales": scales} if scales else {}),
    }


def member_checkpoint(path: str | Path, index: int) -> dict[str, Any]:
    """The payload of member ``index`` of an ensemble checkpoint, as a stand-alone single-network checkpoint.

    Why: one network is about a third of an ensemble's cost; this lets a shipped ensemble be benchmarked (or
    shipped) member by member without the member's original run directory. Weights stay as stored.
    """
    payload = load_checkpoint(path)
    if payload["model_name"] != "ensemble":
        raise CheckpointError(f"{path} is a single {payload['model_name']!r} network, not an ensemble")
    members = payload["model_kwargs"]["members"]
    if not 0 <= index < len(members):
        raise ConfigError(f"member index must be in 0..{len(members) - 1} for {path}, got {index}")
    prefix = f"members.{index}."
    meta = (payload.get("members") or [{}] * len(members))[index]
    single = {key: value for key, value in payload.items() if key not in ("format", "model", "model_scales", "model_kwargs", "model_name", "members", "recipe")}
    single.update({
        "model_name": members[index]["model_name"],
        "model_kwargs": members[index].get("model_kwargs", {}),
        "recipe": {"name": meta.get("recipe") or f"member {index}", "version": meta.get("recipe_version"), "seed": meta.get("seed")},
        "member_of": str(path),
        "model": {key[len(prefix):]: value for key, value in payload["model"].items() if key.startswith(prefix)},
    })
    scales = {key[len(prefix):]: value for key, value in (payload.get("model_scales") or {}).items() if key.startswith(prefix)}
    if scales:
        single["model_scales"] = scales
    return single
