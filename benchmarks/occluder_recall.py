"""Which covered faces the detectors lose, and how well the classifier reads them: per occluder and per hidden part.

    python benchmarks/occluder_recall.py          # -> benchmarks/results/occluder_recall_cpu.json

The benchmark video (make_realtime_video.py) holds only 24 occluded faces: too few to say which occluders
defeat the detector. Here FER2013 PublicTest faces (never PrivateTest) are occluded the way the video's are
(every occluder kind, a random region, 15-45% of the face covered), pasted at 64-150 pixels into 640x480
frames on the video's background, four faces to a frame, and each face is scored twice:

- found or not, by each detector offered here (a true face and a box are the same face above IoU 0.3);
- classified right or not by the shipped ensemble's first member (no TTA) on the crop cut at its true box:
  the classifier alone, with a perfect detector.

Faces are grouped by what the occluder hides (eyes: at least half of the two eye boxes; mouth: at least half
of the mouth box) and by occluder kind. A face the video path misses counts as wrong, so a group's best
face accuracy is (recall x accuracy on found faces): the table shows where detection, not the classifier,
costs the most. Nothing here is timed: the CPU may be shared.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, provenance, shipped_single_network, write_result  # noqa: E402
from make_realtime_video import CELL_H, CELL_W, CELLS, HEIGHT, WIDTH, _background, covered_parts  # noqa: E402
from realtime import MTCNN_LOWER, MTCNN_PREVIOUS, match  # noqa: E402

RESULT_NAME = "occluder_recall_cpu"
HIDDEN = 0.5  # an eye or mouth box at least this much covered counts as hidden
GROUPS = ("clean", "eyes hidden", "mouth hidden", "eyes and mouth hidden", "neither hidden")
# (label, detector name, options, detection scale): the video path's default first. MTCNN's options are spelt
# out so the rows keep their meaning when its defaults move.
MTCNN_DEFAULT = {"score_threshold": 0.3, "steps_threshold": (0.4, 0.4, 0.3)}  # MTCNNDetector's (a test checks)
DETECTORS: tuple[tuple[str, str, dict, float], ...] = (
    ("mtcnn default (0.3; 0.4/0.4/0.3), scale 0.5", "mtcnn", MTCNN_DEFAULT, 0.5),
    ("mtcnn 0.5 everywhere (previous default), scale 0.5", "mtcnn", MTCNN_PREVIOUS, 0.5),
    ("mtcnn lower (0.2; 0.3/0.3/0.2), scale 0.5", "mtcnn", MTCNN_LOWER, 0.5),
    ("mtcnn default, scale 1.0", "mtcnn", MTCNN_DEFAULT, 1.0),
    ("mtcnn previous default, scale 1.0", "mtcnn", MTCNN_PREVIOUS, 1.0),
    ("mtcnn lower, scale 1.0", "mtcnn", MTCNN_LOWER, 1.0),
    ("haar, scale 1.0", "haar", {}, 1.0),
)


def hidden_group(covered: dict[str, float]) -> str:
    """The group of a face from ``covered_parts``: which of eyes and mouth its occluder hides."""
    if covered["face"] == 0.0:
        return "clean"
    eyes, mouth = covered["eyes"] >= HIDDEN, covered["mouth"] >= HIDDEN
    return {(True, False): "eyes hidden", (False, True): "mouth hidden", (True, True): "eyes and mouth hidden"}.get((eyes, mouth), "neither hidden")


def make_faces(per_kind: int, clean: int, seed: int) -> list[dict]:
    """Occluded (``per_kind`` of every occluder kind) and clean PublicTest faces with their placement in a frame."""
    import cv2

    from ferkit.data import load_fer2013
    from ferkit.occlusion import OCCLUDER_KINDS, REGIONS, apply_occlusion

    dataset = load_fer2013(SHARED_DATA / "fer2013", "PublicTest")
    if not all(Path(i).name.startswith("PublicTest") for i in dataset.ids):
        raise SystemExit("refusing: this benchmark must use PublicTest faces only")
    rng = np.random.default_rng(seed)
    kinds = [""] * clean + [k for k in OCCLUDER_KINDS for _ in range(per_kind)]
    order = rng.permutation(len(dataset))[: len(kinds)]
    faces = []
    for kind, index in zip(kinds, order):
        image = cv2.cvtColor(dataset.images[int(index)], cv2.COLOR_GRAY2BGR)
        covered = {"face": 0.0, "eyes": 0.0, "mouth": 0.0}
        if kind:
            result = apply_occlusion(image, kind=kind, region=str(rng.choice(list(REGIONS))), occlusion_ratio=float(rng.uniform(0.15, 0.45)),
                                     rng=rng, fallback_kinds=list(OCCLUDER_KINDS))
            image, kind, covered = result.image, result.kind, covered_parts(result.mask)
        size = int(rng.integers(64, 151))
        faces.append({"image": image, "label": dataset.class_names[int(dataset.labels[int(index)])], "kind": kind or "none",
                      "group": hidden_group(covered), "size": size, "dx": int(rng.integers(4, CELL_W - size - 3)), "dy": int(rng.integers(4, CELL_H - size - 3))})
    return faces


def compose_frames(faces: list[dict], seed: int) -> list[tuple[np.ndarray, list[int]]]:
    """Four faces to a 640x480 frame, one per quarter; each face gets its ``box`` (x, y, w, h)."""
    import cv2

    background = _background(np.random.default_rng(seed + 1))
    frames = []
    for start in range(0, len(faces), len(CELLS)):
        canvas, members = background.copy(), []
        for cell, i in enumerate(range(start, min(start + len(CELLS), len(faces)))):
            face = faces[i]
            x, y, size = CELLS[cell][0] + face["dx"], CELLS[cell][1] + face["dy"], face["size"]
            canvas[y : y + size, x : x + size] = cv2.resize(face["image"], (size, size), interpolation=cv2.INTER_LINEAR)
            face["box"] = (x, y, size, size)
            members.append(i)
        frames.append((canvas, members))
    return frames


def _centre_inside(box: tuple[int, int, int, int], face: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    fx, fy, fw, fh = face
    return fx <= x + w / 2 <= fx + fw and fy <= y + h / 2 <= fy + fh


def measure(faces: list[dict], frames: list[tuple[np.ndarray, list[int]]], single: Path) -> dict[str, dict[str, float]]:
    """Per face (written into ``faces``): found by each detector, and the single network right on its true-box
    crop. Returns each detector's false positives per frame (boxes matching no true face), split into boxes centred
    on a face (a fragment, e.g. the visible half of a covered face) and boxes on the background."""
    import cv2

    from ferkit.faces import Face, ScaledDetector, align_face, build_detector
    from ferkit.recognizer import Recognizer

    recognizer = Recognizer(single, detector="none", backend="onnx", tta="none")
    crops = [align_face(cv2.cvtColor(frames[i // len(CELLS)][0], cv2.COLOR_BGR2GRAY), Face(*f["box"], 1.0), output_size=recognizer.loaded.image_size)
             for i, f in enumerate(faces)]
    predicted = recognizer.classify_crops(np.stack(crops)).argmax(1)
    for face, p in zip(faces, predicted):
        face["correct"] = recognizer.class_names[int(p)] == face["label"]
    false_positives_per_frame = {}
    for label, name, options, scale in DETECTORS:
        detector = build_detector(name, **options)
        detector = detector if scale == 1.0 else ScaledDetector(detector, scale)
        on_faces = background = 0
        for canvas, members in frames:
            found = detector.detect(canvas)
            matched = match([{"box": faces[i]["box"]} for i in members], [f.box for f in found])
            for t, i in enumerate(members):
                faces[i].setdefault("found", {})[label] = t in matched
            for j in set(range(len(found))) - set(matched.values()):
                inside = any(_centre_inside(found[j].box, faces[i]["box"]) for i in members)
                on_faces, background = on_faces + inside, background + (not inside)
        false_positives_per_frame[label] = {"on_faces": round(on_faces / len(frames), 4), "background": round(background / len(frames), 4)}
        print(f"{label}: {on_faces} false positives on faces, {background} on the background in {len(frames)} frames", flush=True)
    return false_positives_per_frame


def real_photos() -> list[tuple[str, Path, int]]:
    """Real photos that ship inside our dependencies, with their number of faces: scikit-learn's two sample
    photos (none), matplotlib's Grace Hopper and ferkit's astronaut example (one each)."""
    import matplotlib
    import sklearn

    sklearn_images = Path(sklearn.__file__).parent / "datasets" / "images"
    return [("china.jpg (scikit-learn)", sklearn_images / "china.jpg", 0), ("flower.jpg (scikit-learn)", sklearn_images / "flower.jpg", 0),
            ("grace_hopper.jpg (matplotlib)", Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg", 1),
            ("astronaut.jpg (ferkit examples)", Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg", 1)]


def photo_false_positives() -> list[dict]:
    """Boxes beyond each photo's number of faces, per full-size detector row (how a photo is read): false positives
    that the synthetic background cannot show. Four photos: a warning sign, not a rate."""
    import cv2

    from ferkit.faces import build_detector

    rows = []
    for label, name, options, scale in DETECTORS:
        if scale != 1.0:
            continue
        detector = build_detector(name, **options)
        per_photo = {}
        for photo, path, faces in real_photos():
            image = cv2.imread(str(path))
            if image is None:
                raise SystemExit(f"cannot read {path}")
            found = detector.detect(image)
            per_photo[photo] = {"boxes": len(found), "faces": faces, "scores": [round(float(f.score), 3) for f in found]}
        rows.append({"label": label, "photos": per_photo, "extra_boxes": sum(max(0, p["boxes"] - p["faces"]) for p in per_photo.values())})
        print(rows[-1], flush=True)
    return rows


def summarise(faces: list[dict], key: str, values: tuple[str, ...] | list[str]) -> list[dict]:
    """One row per group (``key`` = "group" or "kind"): faces, recall per detector, classifier accuracy on all,
    found and missed faces (found/missed by the video default), and the face accuracy a perfect classifier-side
    crop would reach with that detector (found and right)."""
    default = DETECTORS[0][0]
    rows = []
    for value in values:
        members = [f for f in faces if f[key] == value]
        if not members:
            continue
        found = [f for f in members if f["found"][default]]
        missed = [f for f in members if not f["found"][default]]
        rows.append({
            key: value, "faces": len(members),
            "recall": {label: round(float(np.mean([f["found"][label] for f in members])), 4) for label, *_ in DETECTORS},
            "accuracy_true_box": round(float(np.mean([f["correct"] for f in members])), 4),
            "accuracy_found": round(float(np.mean([f["correct"] for f in found])), 4) if found else None,
            "accuracy_missed": round(float(np.mean([f["correct"] for f in missed])), 4) if missed else None,
            "face_accuracy_default": round(float(np.mean([f["correct"] and f["found"][default] for f in members])), 4),
        })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-kind", type=int, default=100, help="occluded faces per occluder kind")
    parser.add_argument("--clean", type=int, default=300, help="clean faces")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    from ferkit.occlusion import OCCLUDER_KINDS

    faces = make_faces(args.per_kind, args.clean, args.seed)
    frames = compose_frames(faces, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        single = shipped_single_network(Path(tmp))
        false_positives = measure(faces, frames, single)
    result: dict[str, Any] = {
        "source": "FER2013 PublicTest", "faces": len(faces), "frames": len(frames), "seed": args.seed, "hidden_threshold": HIDDEN,
        "detectors": [{"label": label, "detector": name, "options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}, "scale": scale,
                       "false_positives_per_frame": false_positives[label]} for label, name, options, scale in DETECTORS],
        "classifier": "shipped ensemble's member 0, ONNX Runtime, no TTA, crop at the true box",
        "real_photos": photo_false_positives(),
        "by_group": summarise(faces, "group", GROUPS), "by_kind": summarise(faces, "kind", ["none", *OCCLUDER_KINDS]),
        **provenance("cpu", started),
    }
    write_result(RESULT_NAME, result)
    for row in result["by_group"]:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
