"""The model card facts ``GET /v1/model`` returns: from the loaded model, plus its metadata file.

A model file ``X.pt`` may have ``X.json`` beside it (the shipped one does, written by
benchmarks/model_metadata.py from the result JSON); its accuracy figures are shown only when the
SHA-256 it names is the loaded file's, so a replaced checkpoint never shows another model's figures.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def file_sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(model_path: Path, sha256: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """(metadata, None) when ``X.json`` describes this exact file, else (None, why not)."""
    sidecar = model_path.with_suffix(".json")
    if not sidecar.is_file():
        return None, f"no metadata file {sidecar.name} next to the model"
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        return None, f"metadata file {sidecar.name} is unreadable: {exc}"
    if not isinstance(meta, dict) or meta.get("sha256") != sha256:
        return None, f"metadata file {sidecar.name} describes another version of {model_path.name}"
    return meta, None


def model_card(recognizer: Any, *, detector: str) -> dict[str, Any]:
    """Name, classes, input, accuracy figures and version of the model ``recognizer`` serves."""
    from ferkit import __version__

    loaded = recognizer.loaded
    path = Path(loaded.path)
    sha256 = file_sha256(path)
    meta, missing = read_metadata(path, sha256)
    recipe = loaded.recipe or {}
    in_chans = int(loaded.in_chans)
    return {
        "name": (meta or {}).get("name") or path.stem,
        "file": path.name,  # the name only: the server's directories are none of the client's business
        "architecture": loaded.model_name,
        "recipe": (meta or {}).get("recipe") or recipe.get("name"),
        "classes": list(recognizer.class_names),
        "input": {"height": int(loaded.image_size), "width": int(loaded.image_size), "channels": in_chans,
                  "color": "grayscale" if in_chans == 1 else "rgb", "what": "aligned face crop"},
        "detector": detector,
        "detector_backend": _backend(recognizer) or detector,  # what "auto" became on this server (mtcnn or haar)
        "tta": recognizer.tta,
        "alignment": getattr(recognizer, "alignment", None),  # a recognizer-like object may not cut faces itself
        "accuracy": (meta or {}).get("accuracy", []),
        "accuracy_note": missing,
        "trained_on": (meta or {}).get("trained_on"),
        "version": {"sha256": sha256, "ferkit": __version__},
        "model_card": (meta or {}).get("model_card"),
    }


def _backend(recognizer: Any) -> str:
    from ferkit.faces.framing import detector_name

    return detector_name(getattr(recognizer, "detector", None))
