"""Measure each face detector's box against FER2013's crop framing and write it for the "box" alignment.

    python benchmarks/calibrate_framing.py                 # 1000 FER2013 *training* faces, every detector installed

Each face is pasted at a random size (64-150 px) and place into a 320x320 noise image, the detector runs on
it, and the crop's side and centre are expressed in units of the matching box's longer side
(``ferkit.faces.framing.measure_framing``). The medians go to ``src/ferkit/faces/framing_fer2013.json``,
which ``Recognizer(alignment="box")`` reads; the spread and counts go with them and to
``benchmarks/results/framing_fer2013.json``. Only the training split is read: the framing is part of the
model's input format, chosen without looking at validation or test faces.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, provenance, write_result  # noqa: E402

from ferkit.faces import build_detector, list_detectors  # noqa: E402
from ferkit.faces.framing import FRAMING_FILE, load_framings, measure_framing  # noqa: E402
from ferkit.io_utils import atomic_write_json  # noqa: E402
from ferkit.quantize import calibration_faces  # noqa: E402


def installed_detectors() -> list[str]:
    """The backends that can run here: haar always; mtcnn with its package; yunet/mediapipe when their model file builds."""
    names = []
    for name in ("haar", "mtcnn", "yunet", "mediapipe"):
        if name not in list_detectors():
            continue
        try:
            build_detector(name)
        except Exception as exc:  # a missing model file: said, and skipped
            print(f"{name}: skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
            continue
        names.append(name)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=f"fer2013:{SHARED_DATA / 'fer2013'}")
    parser.add_argument("--faces", type=int, default=1000, help="training faces to paste (drawn at random, seeded)")
    parser.add_argument("--detectors", nargs="+", default=None, help="default: every detector installed")
    parser.add_argument("--out", type=Path, default=FRAMING_FILE)
    args = parser.parse_args()
    faces = calibration_faces(args.data, args.faces, seed=0)
    detectors = {}
    for name in args.detectors or installed_detectors():
        detectors[name] = measure_framing(build_detector(name), faces, seed=0)
        print(name, detectors[name], flush=True)
    meta = provenance() | {"data": args.data, "split": "train", "faces": len(faces), "pasted_sides_px": [64, 150], "canvas_px": 320}
    payload = {"about": "FER2013 crop framing relative to each detector's box (ferkit.faces.framing); made by benchmarks/calibrate_framing.py",
               "detectors": {name: result["framing"] | {"found": result["found"], "faces": result["faces"], "iqr": result["iqr"]} for name, result in detectors.items()},
               "measured": {k: meta[k] for k in ("commit", "date", "data", "split", "faces") if k in meta}}
    atomic_write_json(args.out, payload)
    load_framings.cache_clear()
    write_result("framing_fer2013", meta | {"detectors": detectors})
    return 0


if __name__ == "__main__":
    sys.exit(main())
