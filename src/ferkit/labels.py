"""The canonical expression vocabulary and the mappings from each dataset's own names and indices.

Every dataset loader converts its labels to canonical names; a model records the tuple of
canonical names it predicts, so evaluating on other data maps by name, never by index.
"""

from __future__ import annotations

from dataclasses import dataclass

from ferkit.errors import LabelError

CANONICAL_LABELS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "sadness",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
)

# Names seen in the wild (folder names, papers, manifests) -> canonical name.
LABEL_ALIASES: dict[str, str] = {
    "neutral": "neutral",
    "ne": "neutral",
    "happiness": "happiness",
    "happy": "happiness",
    "ha": "happiness",
    "joy": "happiness",
    "sadness": "sadness",
    "sad": "sadness",
    "sa": "sadness",
    "surprise": "surprise",
    "surprised": "surprise",
    "su": "surprise",
    "fear": "fear",
    "fearful": "fear",
    "fe": "fear",
    "disgust": "disgust",
    "disgusted": "disgust",
    "di": "disgust",
    "anger": "anger",
    "angry": "anger",
    "an": "anger",
    "contempt": "contempt",
    "co": "contempt",
}

# FER2013's integer labels 0..6 (Goodfellow et al. 2013), in order.
FER2013_LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")

# CK+48 folder order (alphabetical, as the dataset ships): 7 classes, no neutral.
CKPLUS_LABELS: tuple[str, ...] = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")


def canonical_label(name: str) -> str:
    """Map a dataset's class name (any case, any known alias) to the canonical name."""
    key = name.strip().lower()
    if key not in LABEL_ALIASES:
        known = ", ".join(sorted(set(LABEL_ALIASES.values())))
        raise LabelError(f"unknown expression class {name!r}; known classes: {known} (and aliases such as angry, happy, sad)")
    return LABEL_ALIASES[key]


@dataclass(frozen=True)
class LabelMapping:
    """How the labels of a dataset map onto the labels a model predicts.

    ``index_map[i]`` is the model index for data class ``i``, or -1 when the model has no such class.
    """

    data_labels: tuple[str, ...]
    model_labels: tuple[str, ...]
    index_map: tuple[int, ...]

    @property
    def unmapped(self) -> tuple[str, ...]:
        """Data classes the model cannot predict (their samples are reported apart)."""
        return tuple(name for name, idx in zip(self.data_labels, self.index_map) if idx < 0)

    @property
    def is_identity(self) -> bool:
        return self.data_labels == self.model_labels


def map_labels(data_labels: tuple[str, ...] | list[str], model_labels: tuple[str, ...] | list[str]) -> LabelMapping:
    """Match data classes to model classes by canonical name.

    Raises LabelError when no class at all matches (almost surely the wrong model for the data).
    """
    data = tuple(canonical_label(n) for n in data_labels)
    model = tuple(canonical_label(n) for n in model_labels)
    index_map = tuple(model.index(n) if n in model else -1 for n in data)
    if all(i < 0 for i in index_map):
        raise LabelError(f"no class of the data {list(data)} is among the model's classes {list(model)}")
    return LabelMapping(data, model, index_map)
