"""What a prediction returns: one ImagePrediction per image or video frame, one FacePrediction per face.

Plain frozen dataclasses with the JSON shapes the CLI, the bulk writers and the HTTP API share; they sit below the
recognizer so that every layer that writes or streams results can name them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class FacePrediction:
    """One face: box (x, y, w, h) in image pixels, detector score, landmarks or None, label, probabilities."""

    face_index: int
    box: tuple[int, int, int, int]
    detection_score: float
    landmarks: list[list[float]] | None
    label: str
    confidence: float
    probabilities: dict[str, float]


@dataclass(frozen=True)
class ImagePrediction:
    source: str
    width: int
    height: int
    faces: list[FacePrediction] = field(default_factory=list)
    frame_index: int | None = None
    timestamp_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_rows(self) -> list[dict[str, Any]]:
        """One flat row per face: the schema of ``ferkit predict --json`` and of the HTTP API's faces."""
        image = self.to_dict()
        return [{"file": image["source"], "frame": image["frame_index"], "face": face["face_index"], "box": list(face["box"]),
                 "landmarks": face["landmarks"], "label": face["label"], "confidence": round(face["confidence"], 4),
                 "probabilities": face["probabilities"]} for face in image["faces"]]
