"""Speed on this machine: training images/s, classified faces/s (PyTorch and ONNX Runtime), video frames/s.

    python benchmarks/speed.py --model src/ferkit/weights/ferkit-default.pt [--baseline-model runs/teachers/ferkit-default-v5.pt]

Training throughput is measured on synthetic batches (forward + backward + SGD step, the loop's
channels_last layout) so it does not depend on data loading; inference on pre-cropped 48x48
faces; end to end on a generated 640x480 video with a face pasted in (Haar detection + alignment
+ classification per frame). Writes benchmarks/results/speed_<device>.json.

``--baseline-model`` times a second model's inference in the same run (the default it replaces): this host's
speed drifts by up to a third between hours, so "no slower than before" is judged only on figures taken together.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, provenance, write_result  # noqa: E402

from ferkit.evaluate.predict import predict_probabilities  # noqa: E402
from ferkit.models import build_model  # noqa: E402


def train_throughput(name: str, batch: int, device: str, steps: int = 8) -> float:
    model = build_model(name, num_classes=7).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 1, 48, 48, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (batch,), device=device)
    for i in range(steps + 2):
        if i == 2:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def faces_per_second(model, images: np.ndarray, batch: int, repeats: int = 3) -> float:
    predict_probabilities(model, images[:batch], batch_size=batch)
    t0 = time.perf_counter()
    for _ in range(repeats):
        predict_probabilities(model, images, batch_size=batch)
    return repeats * len(images) / (time.perf_counter() - t0)


def video_fps(checkpoint: str, frames: int = 60) -> dict:
    import cv2

    from ferkit.recognizer import Recognizer

    face = cv2.imread(str(REPO / "examples" / "astronaut.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 480))
        for i in range(frames):
            canvas = np.full((480, 640, 3), 90, np.uint8)
            canvas[:400, 100 + i % 20 : 500 + i % 20] = cv2.resize(face, (400, 400))
            writer.write(canvas)
        writer.release()
        recognizer = Recognizer(checkpoint, tta="none")
        t0 = time.perf_counter()
        results = list(recognizer.predict_video(path, every_n=1))
        seconds = time.perf_counter() - t0
    return {"frames": len(results), "frames_with_face": sum(bool(r.faces) for r in results), "frames_per_s": len(results) / seconds, "resolution": "640x480",
            "detector": type(recognizer.detector).__name__, "backend": recognizer.backend, "tta": "none",
            "note": "the Recognizer's default video settings; benchmarks/realtime.py has the per-stage table and the knobs"}


def inference_rates(checkpoint: str, images: np.ndarray, device: str) -> dict[str, float]:
    """Faces/s of ``checkpoint`` alone (no TTA) at batch 1 and 64, in PyTorch and in ONNX Runtime."""
    from ferkit.artifacts import load_model, load_onnx
    from ferkit.export import export_model

    loaded = load_model(checkpoint, device=device)
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_model = load_onnx(export_model(checkpoint, Path(tmp) / "m.onnx"))
        for batch in (1, 64):
            rates[f"pytorch@bs{batch}"] = round(faces_per_second(loaded.model, images[: 128 if batch == 1 else 512], batch), 1)
            rates[f"onnxruntime@bs{batch}"] = round(faces_per_second(onnx_model.model, images[: 128 if batch == 1 else 512], batch), 1)
    return rates


def _shown(path: str) -> str:
    return str(Path(path).resolve().relative_to(REPO)) if Path(path).resolve().is_relative_to(REPO) else path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "src" / "ferkit" / "weights" / "ferkit-default.pt"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--baseline-model", default=None, help="a second model (e.g. the previous default) whose inference is timed in the same run")
    args = parser.parse_args()
    started = time.perf_counter()
    from ferkit.artifacts import load_model

    result: dict = {"training_images_per_s": {}, "inference_faces_per_s": {}}
    for name in ("modified_resnet18", "resnet18"):
        for batch in (128, 256):
            ips = train_throughput(name, batch, args.device)
            result["training_images_per_s"][f"{name}@bs{batch}"] = round(ips, 1)
            result["training_images_per_s"][f"{name}@bs{batch}_fer2013_epoch_s"] = round(28709 / ips, 1)
    images = np.random.default_rng(0).integers(0, 255, (512, 48, 48)).astype(np.uint8)
    loaded = load_model(args.model, device=args.device)
    result["inference_faces_per_s"] = inference_rates(args.model, images, args.device)
    if args.baseline_model:
        result["baseline"] = {"checkpoint": _shown(args.baseline_model), "name": load_model(args.baseline_model, device=args.device).model_name,
                              "inference_faces_per_s": inference_rates(args.baseline_model, images, args.device)}
    result["video_end_to_end"] = video_fps(args.model)
    result["model"] = {"checkpoint": _shown(args.model), "name": loaded.model_name}
    result.update(provenance(args.device, started))
    write_result(f"speed_{args.device.split(':')[0]}", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
