"""Pack FER2013 Training + PublicTest into one file for a GPU machine (never PrivateTest).

    python benchmarks/pack_fer2013.py                      # runs/sprint/fer2013_train_public.npz
    python benchmarks/pack_fer2013.py --compare            # also measure the other encodings on a sample

The device tool sends the working tree plus carried paths, 64 MiB in all. The pack must fit
beside the tree: this script measures what would travel (tracked + untracked-not-ignored files)
and refuses a pack that leaves less than --margin-mib. PublicTest keeps its original JPEG bytes;
Training is re-encoded as JPEG (the original bytes, --train-quality 0, are ~46 MB with xz: too big
beside the tree). The tree grows with every session's logs, so by default (--train-quality auto) the
highest quality in AUTO_QUALITIES that leaves the margin is taken, each tried in turn. The result JSON
records sizes, the quality, the qualities that did not fit, and the PSNR against the original pixels.
"""

from __future__ import annotations

import argparse
import lzma
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED_DATA, provenance, write_result  # noqa: E402

from ferkit.data.fer2013 import fer2013_folder_files  # noqa: E402
from ferkit.data.fer2013_pack import encode_gray_jpeg, pack_folder, pack_info  # noqa: E402
from ferkit.data.image_io import read_gray  # noqa: E402

DEVICE_LIMIT_MIB = 64
DEFAULT_PACK = REPO / "runs" / "sprint" / "fer2013_train_public.npz"
# Tried from the best down: q90 is 37.2 MB and 37.4 dB PSNR, q85 about 33 MB (benchmarks/results/fer2013_pack.json).
AUTO_QUALITIES = (95, 92, 90, 88, 85, 82, 80)


def travelling_tree_bytes(repo: Path = REPO) -> int:
    """Bytes the device tool sends without carry: tracked files and untracked files git does not ignore."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo, capture_output=True, check=True).stdout
    return sum((repo / name).stat().st_size for name in out.decode().split("\0") if name and (repo / name).is_file())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def compare_encodings(root: Path, sample: int, seed: int) -> dict:
    """Bytes per image (scaled to the 32,298 Training + PublicTest images) of each way to ship the pixels."""
    import zlib

    paths, _ = fer2013_folder_files(root, "Training")
    rng = np.random.default_rng(seed)
    chosen = [paths[i] for i in rng.choice(len(paths), min(sample, len(paths)), replace=False)]
    originals = [p.read_bytes() for p in chosen]
    pixels = np.stack([read_gray(p, (48, 48), require_size=True) for p in chosen])
    scale = 32298 / len(chosen) / 1e6
    rows = {
        "original JPEG files": {"mb": sum(map(len, originals)) * scale, "psnr_db": None},
        "original JPEG, xz": {"mb": len(lzma.compress(b"".join(originals))) * scale, "psnr_db": None},
        "raw uint8, zlib -9 (np.savez_compressed)": {"mb": len(zlib.compress(pixels.tobytes(), 9)) * scale, "psnr_db": None},
        "raw uint8, xz": {"mb": len(lzma.compress(pixels.tobytes())) * scale, "psnr_db": None},
    }
    import cv2

    for quality in (95, 92, 90, 88, 85):
        encoded = [encode_gray_jpeg(img, quality) for img in pixels]
        decoded = np.stack([cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_GRAYSCALE) for b in encoded])
        rows[f"re-encoded JPEG q{quality}, xz"] = {"mb": len(lzma.compress(b"".join(encoded))) * scale, "psnr_db": psnr(decoded, pixels)}
    return {"sample_images": len(chosen), "scaled_to_images": 32298, "rows": {k: {"mb": round(v["mb"], 1), "psnr_db": v["psnr_db"] and round(v["psnr_db"], 1)} for k, v in rows.items()}}


def training_psnr(root: Path, pack: Path, sample: int, seed: int) -> float | None:
    """PSNR of the packed Training pixels against the original files, on a seeded sample."""
    from ferkit.data.fer2013_pack import read_encoded
    import cv2

    encoded, _, ids, encoding = read_encoded(pack, "Training")
    if encoding == "original":
        return None
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(encoded), min(sample, len(encoded)), replace=False)
    packed = np.stack([cv2.imdecode(np.frombuffer(encoded[i], np.uint8), cv2.IMREAD_GRAYSCALE) for i in pick])
    original = np.stack([read_gray(root / "train" / f"{ids[i]}.jpg", (48, 48), require_size=True) for i in pick])
    return round(psnr(packed, original), 2)


def quality_arg(text: str) -> int | str:
    """--train-quality: 'auto', 0 (original bytes) or a JPEG quality 1-100."""
    if text == "auto":
        return text
    try:
        quality = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be auto, 0 or a JPEG quality 1-100, got {text!r}") from None
    if not 0 <= quality <= 100:
        raise argparse.ArgumentTypeError(f"must be auto, 0 or a JPEG quality 1-100, got {quality}")
    return quality


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(SHARED_DATA / "fer2013"), help="FER2013 ImageFolder re-pack")
    parser.add_argument("--out", default=str(DEFAULT_PACK))
    parser.add_argument("--train-quality", type=quality_arg, default="auto",
                        help="JPEG quality for Training: 1-100, 0 for the original bytes, or auto (default): the highest of "
                             f"{', '.join(map(str, AUTO_QUALITIES))} that fits")
    parser.add_argument("--limit-train", type=int, default=None, help="seeded random subset (dry runs)")
    parser.add_argument("--limit-public", type=int, default=None)
    parser.add_argument("--margin-mib", type=float, default=2.0, help="room left under the 64 MiB the device tool sends")
    parser.add_argument("--compare", action="store_true", help="also measure other encodings on --sample images")
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--name", default="fer2013_pack", help="result file under benchmarks/results/ ('' for none)")
    args = parser.parse_args()

    started = time.perf_counter()
    root, out = Path(args.root).expanduser(), Path(args.out)
    limits = {k: v for k, v in (("Training", args.limit_train), ("PublicTest", args.limit_public)) if v is not None}
    qualities = AUTO_QUALITIES if args.train_quality == "auto" else (args.train_quality,)
    tree = travelling_tree_bytes()
    did_not_fit = []
    for quality in qualities:
        pack_folder(root, out, train_quality=quality or None, limits=limits)
        info = pack_info(out)
        room = DEVICE_LIMIT_MIB * 2**20 - tree - info["bytes"]
        print(f"{out} (Training q{quality or 'original'}): {info['bytes'] / 1e6:.1f} MB; tree {tree / 1e6:.1f} MB; "
              f"{room / 2**20:.1f} MiB left under {DEVICE_LIMIT_MIB} MiB", flush=True)
        if room >= args.margin_mib * 2**20:
            break
        did_not_fit.append(quality)
        out.unlink()
    else:
        raise SystemExit(f"the pack (Training q{qualities[-1] or 'original'}) and the working tree ({tree / 1e6:.1f} MB) leave "
                         f"{room / 2**20:.1f} MiB under the device tool's {DEVICE_LIMIT_MIB} MiB (margin {args.margin_mib}); "
                         "lower --train-quality or make the tree smaller")
    args.train_quality = quality
    info.update({"travelling_tree_bytes": tree, "room_left_bytes": room, "device_limit_mib": DEVICE_LIMIT_MIB,
                 "qualities_that_did_not_fit": did_not_fit,
                 "training_psnr_db_vs_original": training_psnr(root, out, args.sample, 0)})
    if args.name:
        payload = {"pack": info, "train_quality": args.train_quality or "original", "limits": limits, "load_average": os.getloadavg(),
                   "note": "sizes are exact; the CPU was shared with a training run, so the wall time is an upper bound"}
        if args.compare:
            payload["encodings"] = compare_encodings(root, args.sample, 0)
        write_result(args.name, {**payload, **provenance("cpu", started)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
