"""Was a model trained on this data? Its recorded training set against the one a split rebuilds.

``ferkit evaluate`` scores a k-fold or hold-out model on its own fold by rebuilding the split from the data it
is given. Drawn from other data (a subset, a superset, another copy with images added), the fold with the same
name holds other subjects, and its test part may hold subjects the model trained on: the score would look fine
and be wrong. The checkpoint's ``train_size`` and ``data_fingerprint`` (``state.run_meta``) tell the two apart.
"""

from __future__ import annotations

from typing import Any, Mapping

from ferkit.artifacts import LoadedModel
from ferkit.artifacts.ensemble import SEED_DRAWN_SPLIT
from ferkit.data.dataset import FaceDataset
from ferkit.data.registry import ExperimentSplit
from ferkit.errors import ConfigError
from ferkit.train.resume import FINGERPRINT_PARTS
from ferkit.train.state import data_fingerprint

# Not the pixels: the same sample ids and labels under other pixels (another JPEG decoder, a re-crop) are the same
# subjects, split into the same folds, so scoring them is no leak.
COMPARED_PARTS = ("class_names", "samples")


def training_set_differences(record: Mapping[str, Any], train: FaceDataset) -> list[str]:
    """How ``train`` differs from the training set a model recorded (``train_size``, ``data_fingerprint``).

    [] when they agree on what was recorded, or when nothing was (older checkpoints)."""
    size = record.get("train_size")
    if size is not None and size != len(train):
        return [f"it trained on {size} images, this data's training split has {len(train)}"]
    saved = record.get("data_fingerprint") or {}
    if not any(key in saved for key in COMPARED_PARTS):
        return []
    current = data_fingerprint(train)
    differ = [key for key in COMPARED_PARTS if key in saved and saved[key] != current[key]]
    return [f"its {', '.join(FINGERPRINT_PARTS[key] for key in differ)} differ"] if differ else []


def check_trained_on(loaded: LoadedModel, split: ExperimentSplit, scored: str, data: str) -> None:
    """Refuse to score ``split``'s ``scored`` part (test or val) of ``data`` when ``loaded`` was trained on a split
    of that name drawn from other data. Official splits (FER2013's, RAF-DB's) are fixed, so they are not compared."""
    if scored not in ("test", "val") or loaded.split != split.name or not SEED_DRAWN_SPLIT.fullmatch(split.name):
        return
    differences = training_set_differences(loaded.trained_on, split.train)
    if differences:
        raise ConfigError(f"{loaded.path} was trained on other data than {data}: {'; '.join(differences)}. Its {split.name} {scored} split "
                          f"here may hold subjects or images it trained on, so the score would be inflated. Evaluate it on the data it was "
                          f"trained on; for data that holds none of its training images or subjects, score every image with --split all")
