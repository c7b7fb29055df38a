"""How far the resume check's image-quarter means move under a new JPEG decoder, and under other images.

``ferkit.train.resume.decoded_differently`` lets a run resume when only the pixel digest changed and no image
quarter's mean moved by more than 2 levels (a quarter level on average). This script measures, on FER2013's
training JPEGs, the decoders at hand (OpenCV, Pillow), a lossy re-encode (a stand-in for a decoder with another
IDCT, and larger than one) and copies that are other images under the same names (brighter, shifted, mirrored).
Writes benchmarks/results/decoder_drift.json.

    python benchmarks/decoder_drift.py [--data ../shared/data/fer2013]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, provenance, write_result  # noqa: E402

from ferkit.train.resume import DECODER_TOLERANCE, decoded_differently  # noqa: E402
from ferkit.train.state import quadrant_means  # noqa: E402


def decode_all(paths: list[Path]) -> dict[str, np.ndarray]:
    import cv2
    from PIL import Image

    return {"opencv": np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]),
            "pillow": np.stack([np.asarray(Image.open(p).convert("L")) for p in paths])}


def variants(images: np.ndarray) -> dict[str, np.ndarray]:
    import cv2

    def reencode(x: np.ndarray) -> np.ndarray:
        return cv2.imdecode(cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, 90])[1], cv2.IMREAD_GRAYSCALE)

    wide = images.astype(np.int16)
    return {
        "jpeg quality-90 re-encode": np.stack([reencode(x) for x in images]),
        "3 levels brighter": np.clip(wide + 3, 0, 255).astype(np.uint8),
        "shifted 2 pixels right": np.pad(images, ((0, 0), (0, 0), (2, 0)), mode="edge")[:, :, : images.shape[2]],
        "mirrored": images[:, :, ::-1].copy(),
    }


def compare(reference: np.ndarray, other: np.ndarray) -> dict:
    before, after = quadrant_means(reference), quadrant_means(other)
    moved = np.abs(before.astype(np.int16) - after)
    return {"pixels_equal": bool(np.array_equal(reference, other)), "share_of_pixels_differing": float((reference != other).mean()),
            "quarter_mean_moved_max": int(moved.max()), "quarter_mean_moved_mean": round(float(moved.mean()), 4),
            "resumes": decoded_differently(before.tobytes().hex(), after.tobytes().hex())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SHARED_DATA / "fer2013"), help="an ImageFolder re-pack of FER2013 (train/<class>/*.jpg)")
    args = parser.parse_args()
    started = time.perf_counter()
    paths = sorted(Path(args.data).glob("train/*/*.jpg"))
    if not paths:
        raise SystemExit(f"decoder_drift: no train/<class>/*.jpg under {args.data}")
    decoded = decode_all(paths)
    rows = {"pillow vs opencv decoder": compare(decoded["opencv"], decoded["pillow"])}
    rows.update({name: compare(decoded["opencv"], other) for name, other in variants(decoded["opencv"]).items()})
    for name, row in rows.items():
        print(f"{name:28s} moved max {row['quarter_mean_moved_max']:>3}, mean {row['quarter_mean_moved_mean']:>7.3f} -> "
              f"{'resumes' if row['resumes'] else 'refused'}")
    write_result("decoder_drift", {"images": len(paths), "data": args.data, "tolerance_levels": DECODER_TOLERANCE,
                                   "rows": rows, **provenance("cpu", started)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
