"""Where the training crops lie relative to a detector's box, so that a box crop frames a face as they do.

Why: every detector draws its box its own way (MTCNN's is narrower than tall and sits lower on the face than a
Haar box), while a network trained on FER2013 has learnt FER2013's framing. Cutting a square of the box's
longer side around its centre ("square" alignment) therefore frames faces differently per detector. The
"box" alignment reframes the detector's box with that detector's ``BoxFraming``, measured once by
``measure_framing`` on FER2013 *training* faces pasted into larger images (``benchmarks/calibrate_framing.py``
writes ``framing_fer2013.json`` beside this module; the test splits are never used).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ferkit.errors import ConfigError
from ferkit.faces.base import Face, FaceDetector
from ferkit.video import box_iou

FRAMING_FILE = Path(__file__).with_name("framing_fer2013.json")
MIN_MATCH_IOU = 0.3  # a detection counts as the pasted face from this IoU on


@dataclass(frozen=True)
class BoxFraming:
    """The training crop as a square around a detector's box, in units of the box's longer side ``m``:
    side ``side * m``, centred ``(shift_x * m, shift_y * m)`` from the box centre. The identity is (1, 0, 0)."""

    side: float = 1.0
    shift_x: float = 0.0
    shift_y: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite([self.side, self.shift_x, self.shift_y]).all() and 0.25 <= self.side <= 4.0 and abs(self.shift_x) <= 1 and abs(self.shift_y) <= 1):
            raise ConfigError(f"a box framing needs 0.25 <= side <= 4 and |shifts| <= 1 (units of the box's longer side), got {self}")

    def frame(self, face: Face) -> Face:
        """The square crop box for ``face`` (may reach past the image: the crop pads by replication); no landmarks."""
        longer = max(face.w, face.h)
        centre_x, centre_y = face.center
        side = max(1, int(round(self.side * longer)))
        x = int(round(centre_x + self.shift_x * longer - side / 2.0))
        y = int(round(centre_y + self.shift_y * longer - side / 2.0))
        return Face(x, y, side, side, face.score)


IDENTITY = BoxFraming()


def detector_name(detector: FaceDetector | None) -> str:
    """The registry name of a detector's backend ("" when unknown), seen through wrappers such as ScaledDetector."""
    while detector is not None and hasattr(detector, "detector"):
        detector = detector.detector
    return getattr(detector, "name", "") if detector is not None else ""


@lru_cache(maxsize=None)
def load_framings(path: Path = FRAMING_FILE) -> dict[str, BoxFraming]:
    """The calibrated framings by detector name ({} when the file is missing)."""
    if not path.is_file():
        return {}
    try:
        detectors = json.loads(path.read_text())["detectors"]
        return {name: BoxFraming(**{k: float(entry[k]) for k in ("side", "shift_x", "shift_y")}) for name, entry in detectors.items()}
    except (ValueError, KeyError, TypeError, AttributeError, ConfigError) as exc:  # JSONDecodeError is a ValueError
        raise ConfigError(f"{path} is not a box-framing file ({type(exc).__name__}: {exc}); reinstall ferkit or rewrite it with "
                          "benchmarks/calibrate_framing.py") from None


def framing_for(detector: FaceDetector | None) -> BoxFraming:
    """The calibrated framing of ``detector``'s backend; the identity for a backend never calibrated."""
    return load_framings().get(detector_name(detector), IDENTITY)


def paste(face: np.ndarray, side: int, canvas_size: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``face`` (H, W) uint8 resized to ``side`` and pasted at a random place on a noise canvas; returns the canvas and the true box."""
    import cv2

    canvas = np.clip(rng.normal(128, 30, (canvas_size, canvas_size)), 0, 255).astype(np.uint8)
    x, y = (int(v) for v in rng.integers(0, canvas_size - side + 1, size=2))
    canvas[y:y + side, x:x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    return canvas, (x, y, side, side)


def measure_framing(detector: FaceDetector, faces: Iterable[np.ndarray], *, sides: tuple[int, int] = (64, 150), canvas_size: int = 320,
                    seed: int = 0) -> dict[str, Any]:
    """Paste each training face (uint8 (H, W) crop) at a random size in ``sides`` and place, detect, and return the
    median framing of the crops relative to the boxes that match them, with the spread and the counts."""
    if not 0 < sides[0] <= sides[1] <= canvas_size:
        raise ConfigError(f"face sides {sides} must be positive and fit the {canvas_size}-pixel canvas")
    rng = np.random.default_rng(seed)
    rows, total = [], 0
    for face in faces:
        total += 1
        canvas, truth = paste(face, int(rng.integers(sides[0], sides[1] + 1)), canvas_size, rng)
        scored = [(box_iou(truth, found.box), found) for found in detector.detect(canvas)]
        scored = [pair for pair in scored if pair[0] >= MIN_MATCH_IOU]
        if not scored:
            continue
        found = max(scored, key=lambda pair: pair[0])[1]
        longer = max(found.w, found.h)
        centre_x, centre_y = found.center
        rows.append((truth[2] / longer, (truth[0] + truth[2] / 2 - centre_x) / longer, (truth[1] + truth[3] / 2 - centre_y) / longer))
    if not rows:
        raise ConfigError(f"the detector found none of the {total} pasted faces; no framing can be measured")
    values = np.array(rows)
    median = np.median(values, axis=0)
    return {"framing": asdict(BoxFraming(*(round(float(v), 4) for v in median))), "faces": total, "found": len(rows),
            "iqr": {name: [round(float(v), 4) for v in np.percentile(values[:, i], [25, 75])] for i, name in enumerate(("side", "shift_x", "shift_y"))}}
