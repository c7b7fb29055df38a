"""Peak memory and throughput of streamed `ferkit predict` (issue 18).

Runs `ferkit predict --jsonl` as a subprocess with the shipped model over
- FER2013 training images copied into a temp folder (synthetic faces where ../shared/data is absent),
  at two sizes, with --detector none (48x48 face crops);
- the same crops pasted on 192x192 canvases, with the Haar detector (smaller run);
- a synthetic 640x480 video (a FER2013 face wandering over noise) at two lengths, Haar detector;
and with 1 and 2 decode workers for throughput. Peak RSS is the child's ru_maxrss; RSS is also sampled
every 0.25 s to show whether it grows during a run. Writes benchmarks/results/bulk_predict.json.

    nice -n 5 python benchmarks/bulk_predict.py            # defaults: 20,000 images, a 10-minute video
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, provenance, write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BOUND_MB = 1536


def face_crops(n: int) -> list[np.ndarray]:
    """n 48x48 gray faces: FER2013 training images in sorted order (cycled), synthetic bars without the data."""
    files = sorted((SHARED_DATA / "fer2013" / "train").glob("*/*.jpg"))
    if files:
        return [cv2.imread(str(files[i % len(files)]), cv2.IMREAD_GRAYSCALE) for i in range(n)]
    rng = np.random.default_rng(0)
    return [np.clip(rng.normal(120, 40, (48, 48)), 0, 255).astype(np.uint8) for _ in range(n)]


def write_images(folder: Path, n: int, canvas: int = 0) -> Path:
    """n PNG files (100 per sub-folder); with ``canvas`` each face is upscaled to 96 px on a noisy canvas."""
    rng = np.random.default_rng(1)
    for i, face in enumerate(face_crops(n)):
        if canvas:
            image = rng.integers(90, 140, (canvas, canvas), dtype=np.uint8)
            x, y = rng.integers(0, canvas - 96, 2)
            image[y : y + 96, x : x + 96] = cv2.resize(face, (96, 96))
            face = image
        target = folder / f"{i // 100:04d}" / f"img_{i:06d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), face)
    return folder


def write_video(path: Path, minutes: float, fps: int = 5) -> Path:
    """640x480 MJPG video: a 160 px FER2013 face moving over a noisy background, one new face every 10 s."""
    faces = face_crops(64)
    rng = np.random.default_rng(2)
    background = cv2.GaussianBlur(rng.integers(80, 160, (480, 640, 3), dtype=np.uint8), (0, 0), 8)  # smooth: small MJPG frames
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    for i in range(int(minutes * 60 * fps)):
        frame = background.copy()
        face = cv2.cvtColor(cv2.resize(faces[(i // (10 * fps)) % len(faces)], (160, 160)), cv2.COLOR_GRAY2BGR)
        x, y = 100 + (i * 7) % 380, 80 + (i * 3) % 240
        frame[y : y + 160, x : x + 160] = face
        writer.write(frame)
    writer.release()
    return path


MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run_predict(name: str, inputs: Path, out: Path, *, detector: str, workers: int, extra: list[str] | None = None) -> dict:
    """One `ferkit predict` run in a fresh measuring process: peak RSS (ru_maxrss), RSS samples, wall time."""
    cmd = [sys.executable, "-m", "ferkit.cli", "predict", str(inputs), "--jsonl", str(out), "--detector", detector,
           "--tta", "none", "--workers", str(workers), "--quiet", *(extra or [])]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", MEASURE, *cmd], stdout=subprocess.PIPE, text=True, env=env)
    samples: list[tuple[float, float]] = []
    written: list[tuple[float, int]] = []  # (time, bytes of output): steady throughput, without start-up and model loading
    stop = threading.Event()

    def sample() -> None:  # RSS of the predict process (the measuring process's only child) every 0.25 s
        while not stop.wait(0.25):
            try:
                child = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
                status = Path(f"/proc/{child[0]}/status").read_text() if child else ""
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    samples.append((round(time.perf_counter() - started, 2), int(line.split()[1]) / 1024))
            if out.exists() and out.stat().st_size:
                written.append((time.perf_counter(), out.stat().st_size))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - started
    code, maxrss_kb = (int(v) for v in output.split())
    rows = sum(1 for _ in out.open()) if out.exists() else 0
    quarters = [samples[min(len(samples) - 1, int(q * len(samples)))][1] for q in (0.25, 0.5, 0.75, 1.0)] if samples else []
    steady = None
    if rows and len(written) >= 2 and written[-1][0] > written[0][0]:
        steady = round((written[-1][1] - written[0][1]) / (out.stat().st_size / rows) / (written[-1][0] - written[0][0]), 1)
    result = {"name": name, "detector": detector, "workers": workers, "exit_code": code, "peak_rss_mb": round(maxrss_kb / 1024, 1),
              "steady_rows_per_s": steady,
              "rss_mb_at_quarters": [round(v, 1) for v in quarters], "wall_s": round(wall, 1), "rows": rows}
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--small-images", type=int, default=5000)
    parser.add_argument("--detect-images", type=int, default=500)
    parser.add_argument("--throughput-images", type=int, default=2000)
    parser.add_argument("--video-minutes", type=float, default=10.0)
    parser.add_argument("--short-video-minutes", type=float, default=2.5)
    parser.add_argument("--name", default="bulk_predict")
    parser.add_argument("--sections", default="memory,throughput", help="memory (images and video at two sizes) and/or throughput (1 vs 2 workers)")
    args = parser.parse_args()
    args.small_images, args.throughput_images = min(args.small_images, args.images), min(args.throughput_images, args.images)  # subsets of the images
    started = time.perf_counter()
    load_start = os.getloadavg()
    runs: list[dict] = []

    def save(complete: bool) -> None:  # after every run, so a long benchmark cut short still leaves its measurements
        for run in runs:
            run["inputs_per_s"] = round(run["inputs"] / run["wall_s"], 1)
        by_name = {run["name"]: run for run in runs}

        def ratio(a: str, b: str, key: str) -> float | None:
            if a not in by_name or b not in by_name or not by_name[a][key] or not by_name[b][key]:
                return None
            return round(by_name[a][key] / by_name[b][key], 3)

        write_result(args.name, {
            **provenance("cpu", started), "complete": complete,
            "loadavg_start": [round(v, 2) for v in load_start], "loadavg_end": [round(v, 2) for v in os.getloadavg()],
            "niceness": os.nice(0),
            "note": "wall times and throughputs depend on the load average recorded here (lower bounds when other jobs share "
                    "the cores); peak RSS is the predict process's ru_maxrss (its threads included), which load does not change",
            "model": "shipped default (ferkit.weights), --tta none",
            "bound_mb": BOUND_MB,
            "runs": runs,
            "checks": {
                "all_below_bound": all(run["peak_rss_mb"] < BOUND_MB for run in runs),
                "images_peak_ratio_large_over_small": ratio("images_large", "images_small", "peak_rss_mb"),
                "video_peak_ratio_long_over_short": ratio("video_long", "video_short", "peak_rss_mb"),
                "speedup_2_workers_none": ratio("throughput_none_w2", "throughput_none_w1", "steady_rows_per_s"),
                "speedup_2_workers_haar": ratio("throughput_haar_w2", "throughput_haar_w1", "steady_rows_per_s"),
            },
        })
    with tempfile.TemporaryDirectory(prefix="ferkit-bulk-") as tmp_name:
        tmp = Path(tmp_name)
        write_images(tmp / "images", args.images)
        small = tmp / "small"
        for folder in sorted((tmp / "images").iterdir())[: args.small_images // 100]:
            shutil.copytree(folder, small / folder.name)
        through = tmp / "through"
        for folder in sorted((tmp / "images").iterdir())[: args.throughput_images // 100]:
            shutil.copytree(folder, through / folder.name)
        write_images(tmp / "detect", args.detect_images, canvas=192)
        write_video(tmp / "short.avi", args.short_video_minutes)
        write_video(tmp / "long.avi", args.video_minutes)
        memory = ("images_small", "images_large", "video_short", "video_long") if "memory" in args.sections else ()
        if "images_small" in memory:
            runs.append({**run_predict("images_small", small, tmp / "a.jsonl", detector="none", workers=1), "inputs": args.small_images})
            save(False)
            runs.append({**run_predict("images_large", tmp / "images", tmp / "b.jsonl", detector="none", workers=1), "inputs": args.images})
            save(False)
        for name, path, minutes in (("video_short", tmp / "short.avi", args.short_video_minutes), ("video_long", tmp / "long.avi", args.video_minutes)):
            if name not in memory:
                continue
            run = run_predict(name, path, tmp / f"{name}.jsonl", detector="haar", workers=0, extra=["--every-n", "5"])
            runs.append({**run, "inputs": int(minutes * 60 * 5), "video_minutes": minutes, "video": "640x480 MJPG, 5 fps, every 5th frame classified"})
            save(False)
        for workers in (1, 2) if "throughput" in args.sections else ():
            runs.append({**run_predict(f"throughput_none_w{workers}", through, tmp / f"t{workers}.jsonl", detector="none", workers=workers),
                         "inputs": args.throughput_images})
            runs.append({**run_predict(f"throughput_haar_w{workers}", tmp / "detect", tmp / f"d{workers}.jsonl", detector="haar", workers=workers),
                         "inputs": args.detect_images})
            save(False)
    save(True)

if __name__ == "__main__":
    main()
