"""Real-time recognition on a CPU: classifier throughput, detectors, and the video path end to end.

    python benchmarks/make_realtime_video.py            # the benchmark video (FER2013 PublicTest faces)
    python benchmarks/realtime.py                       # all sections -> benchmarks/results/realtime_cpu.json
    python benchmarks/realtime.py --sections crops tta  # some sections; the others in the JSON are kept

Sections:
  crops     faces/s through ``Recognizer(detector="none").classify_crops`` at batch 64, for the shipped
            ensemble and one of its members, PyTorch and ONNX Runtime, with and without flip TTA.
  tta       PublicTest accuracy of the same models with and without flip (does the TTA pay for itself?).
  detectors ms per 640x480 frame and recall of the benchmark video's clean and occluded faces, per detector
            and detection scale.
  video     frames/s and face-level accuracy end to end (a face the detector misses counts as wrong), per-stage
            times, for the old path ("before") and the new knobs.
  camera    ``ferkit predict --camera 0`` with the benchmark video standing in for the camera.
  breakdown where face accuracy goes: the same faces cut from true boxes and from the detector's.
  heldout   knobs chosen on the benchmark video, checked on a second, five times longer video made with another
            seed and none of its faces (face accuracy only): the benchmark video holds few occluded faces, so a gain there
            may be luck.

The CPU is shared with a training run while this runs; every section records the load average, and its
numbers are lower bounds of what an idle machine gives.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUIET_CPU_NOTE, REPO, RESULTS, SHARED_CPU_NOTE, SHARED_DATA, provenance, shipped_single_network, write_result  # noqa: E402
from make_realtime_video import DEFAULT_OUT, make_video  # noqa: E402

RESULT_NAME = "realtime_cpu"
SECTIONS = ("crops", "tta", "detectors", "video", "camera", "breakdown", "heldout")
CPU_NOTE = [SHARED_CPU_NOTE]  # set from --quiet-cpu in main()
IOU_MATCH = 0.3  # a detection and a true face are the same face above this IoU (detectors frame faces differently)


def section_provenance(started: float) -> dict[str, Any]:
    return {**provenance("cpu", started), "loadavg": [round(v, 2) for v in os.getloadavg()], "cpu_note": CPU_NOTE[0]}


# Issue 17's fast student: a half-width modified ResNet-18 distilled from the v5 ensemble (recipe
# fer2013-cpu-student-modres18c32-kd-v1, trained by benchmarks/queue_second_core.sh); measured when its checkpoint is here.
STUDENT = REPO / "runs" / "fer2013-cpu-student-modres18c32-kd-v1" / "best.pt"


def model_files(tmp: Path, student: Path | None = STUDENT) -> dict[str, Path]:
    """The shipped ensemble, its first member as a single-network checkpoint, and that member as a static int8
    ONNX graph (``ferkit export --int8``, calibrated on 512 FER2013 training faces); the distilled student and its
    int8 graph too when ``student`` exists."""
    from ferkit.export import export_model
    from ferkit.quantize import calibration_faces
    from ferkit.weights import default_model_path

    shipped = default_model_path()
    single = shipped_single_network(tmp)  # the shipped file itself when it is one network
    calibration = calibration_faces(f"fer2013:{SHARED_DATA / 'fer2013'}")
    models = {"ensemble": shipped, "single": single, "single int8": export_model(single, tmp / "member0-int8.onnx", int8_calibration=calibration)}
    if student is not None and student.is_file():
        models["student"] = student
        models["student int8"] = export_model(student, tmp / "student-int8.onnx", int8_calibration=calibration)
    else:
        print(f"no student checkpoint at {student}: its rows are left out", file=sys.stderr)
    return models


def crops_section(models: dict[str, Path], repeats: int = 8) -> list[dict]:
    """faces/s from the median batch time, from the mean, and per second of this process's CPU time (all threads):
    the last is what contention with other jobs changes least."""
    from ferkit.data import load_fer2013
    from ferkit.recognizer import Recognizer

    faces = load_fer2013(SHARED_DATA / "fer2013", "PublicTest").images[:512]
    rows = []
    for model_name, path in models.items():
        for backend in ("torch", "onnx") if path.suffix != ".onnx" else ("onnx",):  # an ONNX file runs in ONNX Runtime only
            recognizer = Recognizer(path, detector="none", backend=backend)
            for tta in ("none", "flip"):
                recognizer.tta = tta
                recognizer.classify_crops(faces[:64])
                seconds = []
                cpu_started = time.process_time()
                for r in range(repeats):
                    start = (r * 64) % len(faces)
                    started = time.perf_counter()
                    recognizer.classify_crops(faces[start : start + 64])
                    seconds.append(time.perf_counter() - started)
                cpu = time.process_time() - cpu_started
                rows.append({"model": model_name, "backend": backend, "tta": tta, "batch": 64, "faces_per_s": round(64 / float(np.median(seconds)), 1),
                             "faces_per_s_mean": round(64 * repeats / sum(seconds), 1), "faces_per_cpu_s": round(64 * repeats / cpu, 1), "batches": repeats})
                print(rows[-1], flush=True)
    return rows


def tta_section(models: dict[str, Path]) -> list[dict]:
    from ferkit.data import load_fer2013
    from ferkit.recognizer import Recognizer

    data = load_fer2013(SHARED_DATA / "fer2013", "PublicTest")
    rows = []
    shipped = _shipped_tta_scores()
    for model_name, path in models.items():
        if model_name == "ensemble" and shipped is not None:  # already scored on the shipped file; not repeated on a busy CPU
            rows += [{"model": model_name, "tta": tta, "split": "PublicTest", "n": shipped["n"], "accuracy": round(shipped["accuracy"][tta], 4),
                      "faces_per_s": None, "source": shipped["source"]} for tta in ("none", "flip")]
            continue
        recognizer = Recognizer(path, detector="none", backend="onnx")
        labels = np.array([recognizer.class_names.index(data.class_names[i]) for i in data.labels])
        for tta in ("none", "flip"):
            recognizer.tta = tta
            started = time.perf_counter()
            probs = recognizer.classify_crops(data.images)
            rows.append({"model": model_name, "tta": tta, "split": "PublicTest", "n": len(labels),
                         "accuracy": round(float((probs.argmax(1) == labels).mean()), 4), "faces_per_s": round(len(labels) / (time.perf_counter() - started), 1)})
            print(rows[-1], flush=True)
    return rows


def _shipped_tta_scores() -> dict | None:
    """PublicTest accuracy per TTA of the shipped file, as benchmarks/ship_default_model.py measured it, if it did."""
    path = RESULTS / "default_model_selection.json"
    if not path.exists():
        return None
    selection = json.loads(path.read_text())
    scores = selection.get("shipped_file_val_accuracy_by_tta")
    if not scores or not str(selection.get("split", "")).startswith("PublicTest"):
        return None
    return {"accuracy": scores, "n": 3589, "source": f"benchmarks/results/default_model_selection.json (commit {selection.get('commit')})"}


def match(truth: list[dict], boxes: list[tuple[int, int, int, int]]) -> dict[int, int]:
    """True face index -> predicted box index, one to one, by IoU (Hungarian), pairs under IOU_MATCH left out."""
    from scipy.optimize import linear_sum_assignment

    from ferkit.video import box_iou

    if not truth or not boxes:
        return {}
    iou = np.array([[box_iou(t["box"], b) for b in boxes] for t in truth])
    # pairs under the threshold weigh nothing in the assignment: with their IoU counted, a pair that is then left out
    # could outbid a valid one and lose a match (or credit the box to the other face)
    rows, cols = linear_sum_assignment(-np.where(iou >= IOU_MATCH, iou, 0.0))
    return {int(r): int(c) for r, c in zip(rows, cols) if iou[r, c] >= IOU_MATCH}


# MTCNN operating points beside ferkit's defaults (score_threshold 0.3, steps (0.4, 0.4, 0.3), chosen from this table, the
# video rows and benchmarks/occluder_recall.py): the package-like (0.9; 0.6, 0.6, 0.7), one between, ferkit's previous
# defaults (0.5 everywhere), and one lower; lower thresholds trade false positives for recall of covered faces, whose
# O-Net scores are lower.
MTCNN_PREVIOUS = {"score_threshold": 0.5, "steps_threshold": (0.5, 0.5, 0.5)}
MTCNN_LOWER = {"score_threshold": 0.2, "steps_threshold": (0.3, 0.3, 0.2)}  # the lowest operating point measured
MTCNN_VARIANTS: tuple[dict, ...] = ({"score_threshold": 0.9, "steps_threshold": (0.6, 0.6, 0.7)}, {"score_threshold": 0.7, "steps_threshold": (0.6, 0.6, 0.7)},
                                    MTCNN_PREVIOUS, MTCNN_LOWER)


def detectors_section(video: Path, truth: list[list[dict]], step: int = 5) -> list[dict]:
    """Every ``step``-th frame of the benchmark video through each detector, alone (no tracking)."""
    from ferkit.faces import ScaledDetector, build_detector, list_detectors, mtcnn_available
    from ferkit.video import iter_frames

    frames = [(i, f) for i, _, f in iter_frames(video, every_n=step)]
    candidates: list[tuple[str, dict]] = [("haar", {})]
    if mtcnn_available():
        candidates += [("mtcnn", {})] + [("mtcnn", dict(v)) for v in MTCNN_VARIANTS]
    if "yunet" in list_detectors():
        from ferkit.faces.yunet import cache_dir, YUNET_FILENAME

        if (cache_dir() / YUNET_FILENAME).is_file():
            candidates.append(("yunet", {}))
    if "mediapipe" in list_detectors():
        from ferkit.faces.mediapipe import MODEL_FILENAMES, full_range_supported
        from ferkit.faces.yunet import cache_dir

        for model in ("short", "full") if full_range_supported() else ("short",):
            if any((cache_dir() / name).is_file() for name in MODEL_FILENAMES[model]):
                candidates += [("mediapipe", {"model": model}), ("mediapipe", {"model": model, "score_threshold": 0.3})]
    rows = []
    for name, options in candidates:
        for scale in (1.0, 0.5):
            detector = build_detector(name, **options)
            detector = detector if scale == 1.0 else ScaledDetector(detector, scale)
            detector.detect(frames[0][1])
            found = {True: 0, False: 0}
            total = {True: 0, False: 0}
            false_positives = 0
            detections, seconds = [], []
            cpu_started = time.process_time()
            for _, frame in frames:
                started = time.perf_counter()
                detections.append(detector.detect(frame))
                seconds.append(time.perf_counter() - started)
            for (index, _), faces in zip(frames, detections):
                matched = match(truth[index], [f.box for f in faces])
                for t, face in enumerate(truth[index]):
                    total[face["occluded"]] += 1
                    found[face["occluded"]] += t in matched
                false_positives += len(faces) - len(matched)
            rows.append({"detector": name, "options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}, "scale": scale, "frames": len(frames), "every_nth": step, "ms_per_frame": round(1000 * float(np.median(seconds)), 2), "ms_per_frame_mean": round(1000 * float(np.mean(seconds)), 2),
                         "cpu_ms_per_frame": round(1000 * (time.process_time() - cpu_started) / len(frames), 2),
                         "recall_clean": round(found[False] / max(1, total[False]), 4), "recall_occluded": round(found[True] / max(1, total[True]), 4),
                         "faces_clean": total[False], "faces_occluded": total[True], "false_positives_per_frame": round(false_positives / len(frames), 3)})
            print(rows[-1], flush=True)
    return rows


def breakdown_section(video: Path, truth: list[list[dict]], models: dict[str, Path], step: int = 5) -> list[dict]:
    """Where face accuracy goes: the single network on crops cut from every ``step``-th frame, scored on clean and
    occluded faces: from the true boxes (the classifier alone, a perfect detector), and, for the faces the default
    detector finds, from their true boxes again, from its boxes (reframed as FER2013 crops are, and as plain
    squares) and from its landmarks (the three ``alignment`` settings): framing and selection effects apart."""
    import dataclasses

    import cv2

    from ferkit.faces import Face, align_face, build_detector
    from ferkit.faces.framing import framing_for
    from ferkit.faces.mtcnn import DEFAULT_DETECTOR
    from ferkit.recognizer import Recognizer
    from ferkit.video import iter_frames

    recognizer = Recognizer(models["single"], detector="none", backend="onnx", tta="none")
    detector = build_detector(DEFAULT_DETECTOR)
    framing = framing_for(detector)
    crops: dict[tuple[str, bool], list[tuple[np.ndarray, int]]] = {}
    for index, _, frame in iter_frames(video, every_n=step):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        found = detector.detect(frame)
        matched = match(truth[index], [f.box for f in found])
        for t, face in enumerate(truth[index]):
            label, occluded = recognizer.class_names.index(face["label"]), face["occluded"]
            cuts = {"true box": Face(*face["box"], 1.0)}
            if t in matched:
                cuts |= {"true box, found faces": cuts["true box"], "detector box, square": dataclasses.replace(found[matched[t]], landmarks=None),
                         "detector box, FER2013 framing": framing.frame(found[matched[t]]), "detector landmarks": found[matched[t]]}
            for name, cut in cuts.items():
                crops.setdefault((name, occluded), []).append((align_face(gray, cut, output_size=recognizer.loaded.image_size), label))
    rows = []
    for (name, occluded), items in sorted(crops.items()):
        faces, labels = np.stack([c for c, _ in items]), np.array([label for _, label in items])
        rows.append({"crop": name, "occluded": occluded, "faces": len(items), "detector": DEFAULT_DETECTOR, "model": "single", "every_nth": step,
                     "accuracy": round(float((recognizer.classify_crops(faces).argmax(1) == labels).mean()), 4)})
        print(rows[-1], flush=True)
    return rows


def score_video(results: list, truth: list[list[dict]]) -> dict[str, float]:
    """Face-level accuracy (a missed face is wrong) and recall, over all, clean and occluded true faces; and where the
    misses lie: face-frames missed before the face was first found, and faces never found in any frame."""
    correct = {True: 0, False: 0}
    found = {True: 0, False: 0}
    total = {True: 0, False: 0}
    false_positives = 0
    seen: dict[int, list[bool]] = {}  # per true face (by id, when the truth has one): found in each of its frames
    covered: dict[int, bool] = {}  # per true face: occluded in any of its frames
    for result in results:
        faces = truth[result.frame_index]
        matched = match(faces, [f.box for f in result.faces])
        for t, face in enumerate(faces):
            occluded = face["occluded"]
            total[occluded] += 1
            if "face_id" in face:
                seen.setdefault(face["face_id"], []).append(t in matched)
                covered[face["face_id"]] = covered.get(face["face_id"], False) or occluded
            if t in matched:
                found[occluded] += 1
                correct[occluded] += result.faces[matched[t]].label == face["label"]
        false_positives += len(result.faces) - len(matched)
    n = total[True] + total[False]
    never = [face_id for face_id, frames in seen.items() if not any(frames)]
    return {"accuracy": round((correct[True] + correct[False]) / max(1, n), 4), "accuracy_clean": round(correct[False] / max(1, total[False]), 4),
            "accuracy_occluded": round(correct[True] / max(1, total[True]), 4), "recall": round((found[True] + found[False]) / max(1, n), 4),
            "recall_clean": round(found[False] / max(1, total[False]), 4), "recall_occluded": round(found[True] / max(1, total[True]), 4),
            "faces": n, "false_positives_per_frame": round(false_positives / max(1, len(results)), 3),
            "missed_before_first_found": sum(frames.index(True) for frames in seen.values() if any(frames)),
            "faces_never_found": len(never), "occluded_faces_never_found": sum(covered[face_id] for face_id in never),
            "missed_in_faces_never_found": sum(len(seen[face_id]) for face_id in never)}


# name, model, backend, tta, detector, detect_every, detect_scale, read_ahead, write annotated video
VIDEO_RUNS: list[tuple[str, str, str, str, str, int, float, int, bool]] = [
    ("before (0.1 defaults)", "ensemble", "torch", "flip", "haar", 1, 1.0, 0, False),
    ("before, annotated output", "ensemble", "torch", "flip", "haar", 1, 1.0, 0, True),
    ("haar, onnx", "single", "onnx", "none", "haar", 1, 1.0, 4, False),
    ("haar, scale 0.5", "single", "onnx", "none", "haar", 1, 0.5, 4, False),
    ("haar, scale 0.5, every 5", "single", "onnx", "none", "haar", 5, 0.5, 4, False),
    ("mtcnn", "single", "onnx", "none", "mtcnn", 1, 1.0, 4, False),
    ("mtcnn, scale 0.5", "single", "onnx", "none", "mtcnn", 1, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 3", "single", "onnx", "none", "mtcnn", 3, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 3, square crop", "single", "onnx", "none", "mtcnn", 3, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 5", "single", "onnx", "none", "mtcnn", 5, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 10", "single", "onnx", "none", "mtcnn", 10, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 5, no read-ahead", "single", "onnx", "none", "mtcnn", 5, 0.5, 0, False),
    ("mtcnn, scale 0.5, every 5, single + flip", "single", "onnx", "flip", "mtcnn", 5, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 5, landmark alignment", "single", "onnx", "none", "mtcnn", 5, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 5, single int8", "single int8", "onnx", "none", "mtcnn", 5, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 5, ensemble", "ensemble", "onnx", "none", "mtcnn", 5, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 5, ensemble + flip", "ensemble", "onnx", "flip", "mtcnn", 5, 0.5, 4, False),
    ("defaults: mtcnn, scale 0.5, every 3, ensemble + flip", "ensemble", "onnx", "flip", "mtcnn", 3, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 3, student", "student", "onnx", "none", "mtcnn", 3, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 3, student int8", "student int8", "onnx", "none", "mtcnn", 3, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 5, annotated output", "single", "onnx", "none", "mtcnn", 5, 0.5, 4, True),
    ("mtcnn previous thresholds (0.5), scale 0.5, every 3", "single", "onnx", "none", "mtcnn", 3, 0.5, 4, False),
    ("mtcnn lower thresholds, scale 0.5, every 3", "single", "onnx", "none", "mtcnn", 3, 0.5, 4, False),
    ("defaults with mtcnn previous thresholds (0.5)", "ensemble", "onnx", "flip", "mtcnn", 3, 0.5, 4, False),
    ("defaults with mtcnn lower thresholds", "ensemble", "onnx", "flip", "mtcnn", 3, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 3, previous follower (2 misses, min score 0.5)", "single", "onnx", "none", "mtcnn", 3, 0.5, 4, False),
    ("mtcnn, scale 0.5, every 3, no look-back", "single", "onnx", "none", "mtcnn", 3, 0.5, 4, False),
]
# Follower options of the runs that name them (the others use FaceFollower's defaults); see also HELDOUT_RUNS.
FOLLOW_PREVIOUS = {"keep_missed": 2, "min_score": 0.5}  # FaceFollower's defaults until this benchmark replaced them
RUN_FOLLOW_OPTIONS = {"mtcnn, scale 0.5, every 3, previous follower (2 misses, min score 0.5)": FOLLOW_PREVIOUS}
# Look-back of the runs that name it, and of the "before" path (the others use the library's DEFAULT_LOOK_BACK for files).
RUN_LOOK_BACK = {"before (0.1 defaults)": 0, "before, annotated output": 0, "mtcnn, scale 0.5, every 3, no look-back": 0}
# Detector options of the runs that name them (the others use the detector's defaults).
RUN_DETECTOR_OPTIONS = {"mtcnn previous thresholds (0.5), scale 0.5, every 3": MTCNN_PREVIOUS, "defaults with mtcnn previous thresholds (0.5)": MTCNN_PREVIOUS,
                        "mtcnn lower thresholds, scale 0.5, every 3": MTCNN_LOWER, "defaults with mtcnn lower thresholds": MTCNN_LOWER}


def video_section(video: Path, truth: list[list[dict]], models: dict[str, Path], tmp: Path, only: list[str] | None, max_frames: int | None,
                  on_row: Callable[[list[dict]], None] | None = None) -> list[dict]:
    from ferkit.constants import DEFAULT_LOOK_BACK
    from ferkit.recognizer import Recognizer
    from ferkit.timing import StageTimer

    rows = []
    recognizers: dict[tuple, Any] = {}
    runs = {run[0]: run for run in VIDEO_RUNS}
    unknown = [name for name in only or [] if name not in runs]
    if unknown:
        raise SystemExit(f"unknown video runs {unknown}; known: {list(runs)}")
    for name, model, backend, tta, detector, every, scale, ahead, annotate in [runs[n] for n in only] if only else VIDEO_RUNS:
        if model not in models:
            print(f"{name}: no {model} model, skipped", file=sys.stderr)
            continue
        alignment = "landmarks" if "landmark alignment" in name else "square" if "square crop" in name else "box"
        options = dict(RUN_DETECTOR_OPTIONS.get(name, {}))
        key = (model, backend, detector, alignment, repr(options))
        if key not in recognizers:
            recognizers[key] = Recognizer(models[model], detector=detector, backend=backend, alignment=alignment, detector_options=options or None)
        recognizer = recognizers[key]
        recognizer.tta = tta
        # a few frames first: the first run of a process would otherwise pay one-off costs (scipy's import in the
        # smoother, ONNX Runtime's first calls) in its stage times
        for _ in recognizer.predict_video(video, every_n=1, max_frames=10, detect_every=every, detect_scale=scale, read_ahead=0, look_back=0):
            pass
        timer = StageTimer()
        target = tmp / f"annotated_{len(rows)}.avi" if annotate else None
        look_back = RUN_LOOK_BACK.get(name, DEFAULT_LOOK_BACK)
        started, cpu_started = time.perf_counter(), time.process_time()
        results, ticks = [], [started]
        for result in recognizer.predict_video(video, every_n=1, max_frames=max_frames, detect_every=every, detect_scale=scale, read_ahead=ahead, timer=timer,
                                               annotated_path=target, overwrite=True, follow_options=RUN_FOLLOW_OPTIONS.get(name), look_back=look_back):
            results.append(result)
            ticks.append(time.perf_counter())
        # taken after the loop, not at the last result: the generator's end (the annotated file's release and rename)
        # is part of the run's wall time
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        # per-frame times: their median is robust to bursts of the other jobs on the shared CPU; with detect_every=k
        # the mean over a whole window of k frames is what a viewer sees, so the window means are taken first
        window = max(1, every)
        intervals = np.diff(ticks)[: len(results) // window * window].reshape(-1, window).mean(axis=1)
        row = {"name": name, "model": model, "backend": backend, "tta": tta, "detector": detector, "alignment": alignment, "detect_every": every, "detect_scale": scale,
               "read_ahead": ahead, "look_back": look_back, "annotated_output": annotate, "frames": len(results), "frames_per_s": round(len(results) / seconds, 2),
               "frames_per_s_median": round(1.0 / float(np.median(intervals)), 2), "cpu_ms_per_frame": round(1000 * cpu / len(results), 2),
               **score_video(results, truth), "stages_ms_per_frame": timer.per_frame_ms(len(results)), "loadavg": [round(v, 2) for v in os.getloadavg()]}
        rows.append(row)
        print({k: v for k, v in row.items() if k != "stages_ms_per_frame"}, flush=True)
        if on_row is not None:
            on_row(rows)  # saved after every run: a slow run on a busy CPU loses nothing measured before it
    return rows


# (name, detector options, follower options, look-back) on the single network, detection every 3rd frame at half size;
# look-back None is the library's default for files.
HELDOUT_RUNS: tuple[tuple[str, dict, dict, int | None], ...] = (
    ("defaults", {}, {}, None),
    ("mtcnn previous thresholds (0.5)", MTCNN_PREVIOUS, {}, None),
    ("previous follower (2 missed re-detections, min score 0.5)", {}, FOLLOW_PREVIOUS, None),
    ("mtcnn lower thresholds (0.2; 0.3/0.3/0.2)", MTCNN_LOWER, {}, None),
    ("no look-back", {}, {}, 0),
)
HELDOUT_SEED = 1
HELDOUT_FRAMES = 3000  # five times the benchmark video: about 120 occluded faces instead of 24


def heldout_videos(specs: list[str], benchmark_seed: int | None = None) -> list[tuple[int, int]]:
    """``--heldout SEED:FRAMES`` values as (seed, frames). A video that has confirmed choices once should give way
    to a fresh seed for the next choices: each check on it makes it a little less held out. The benchmark video's
    seed is refused: rows are keyed by seed, so that video would replace the benchmark's rows, and is not held out."""
    out = []
    for spec in specs:
        seed, sep, frames = spec.partition(":")
        if not (sep and seed.strip().isdigit() and frames.strip().isdigit() and int(frames) > 0):
            raise SystemExit(f"--heldout takes SEED:FRAMES, e.g. 2:6000, got {spec!r}")
        if benchmark_seed is not None and int(seed) == benchmark_seed:
            raise SystemExit(f"--heldout {spec}: seed {seed} is the benchmark video's; a held-out video needs another seed")
        out.append((int(seed), int(frames)))
    return out


def heldout_section(videos: dict[int, Path], models: dict[str, Path], only: list[str] | None = None) -> list[dict]:
    """Face accuracy of each ``HELDOUT_RUNS`` setting (or of those named in ``only``) on every video (seed -> path)."""
    from ferkit.constants import DEFAULT_LOOK_BACK
    from ferkit.recognizer import Recognizer

    unknown = sorted(set(only or []) - {run[0] for run in HELDOUT_RUNS})
    if unknown:
        raise SystemExit(f"unknown held-out runs {unknown}; known: {[run[0] for run in HELDOUT_RUNS]}")
    rows = []
    for name, detector_options, follow_options, look_back in HELDOUT_RUNS:
        if only and name not in only:
            continue
        look_back = DEFAULT_LOOK_BACK if look_back is None else look_back
        recognizer = Recognizer(models["single"], backend="onnx", tta="none", detector_options=dict(detector_options) or None)
        for seed, video in videos.items():
            meta = json.loads(video.with_suffix(".json").read_text())
            results = list(recognizer.predict_video(video, every_n=1, detect_every=3, detect_scale=0.5, follow_options=follow_options, look_back=look_back))
            rows.append({"name": name, "video_seed": seed, "distinct_faces": len(meta["faces"]), "distinct_occluded_faces": sum(f["occluded"] for f in meta["faces"]),
                         "excludes_faces_of_seed": meta.get("excludes_faces_of_seed"), "detector_options": {k: list(v) if isinstance(v, tuple) else v for k, v in detector_options.items()},
                         "follow_options": follow_options, "look_back": look_back, **score_video(results, meta["truth"])})
            print(rows[-1], flush=True)
    return rows


def camera_section(video: Path, frames: int = 100) -> dict:
    """``ferkit predict --camera 0 --every-n 1``: the CLI's camera path, with cv2.VideoCapture(0) reading the video."""
    import cv2

    from ferkit.cli import main as cli_main

    real_capture = cv2.VideoCapture
    reads: list[float] = []

    class FileCamera:
        def __init__(self, source: Any, *args: Any) -> None:
            self.capture = real_capture(str(video) if source == 0 else source, *args)

        def read(self) -> tuple[bool, Any]:
            reads.append(time.perf_counter())
            return self.capture.read()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.capture, name)

    cv2.VideoCapture = FileCamera
    try:
        status = cli_main(["predict", "--camera", "0", "--every-n", "1", "--max-frames", str(frames), "--quiet", "--json", os.devnull, "--overwrite"])
        ended = time.perf_counter()
    finally:
        cv2.VideoCapture = real_capture
    from ferkit.recognizer import DEFAULT_DETECT_EVERY

    # to the command's end, not to the last read: reads run on the read-ahead thread, a few frames before those frames
    # are classified, so the last read comes before the last frames' work is done
    span = ended - reads[0]
    intervals = np.diff(reads)
    windows = intervals[: len(intervals) // DEFAULT_DETECT_EVERY * DEFAULT_DETECT_EVERY].reshape(-1, DEFAULT_DETECT_EVERY).mean(axis=1)
    return {"command": f"ferkit predict --camera 0 --every-n 1 --max-frames {frames}", "exit_status": status, "frames": len(reads),
            "frames_per_s": round(len(reads) / span, 2), "frames_per_s_median": round(1.0 / float(np.median(windows)), 2), "note": "the benchmark video stands in for camera 0 (cv2.VideoCapture(0) opens the file)"}


def row_stamp() -> dict[str, str]:
    """The commit and date of a row measured now: sections keep rows of earlier runs (``--runs``, ``--heldout-runs``), so
    the section's own provenance describes only its last run."""
    info = provenance("cpu")
    return {"commit": info["commit"], "date": info["date"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--video", type=Path, default=DEFAULT_OUT, help="benchmark video (made with make_realtime_video.py if missing)")
    parser.add_argument("--frames", type=int, default=600, help="frames of a video made here")
    parser.add_argument("--runs", nargs="+", default=None, help="video section: only these named runs (the others' rows are kept)")
    parser.add_argument("--heldout-runs", nargs="+", default=None, help="heldout section: only these named settings (the others' rows are kept)")
    parser.add_argument("--max-frames", type=int, default=None, help="video section: the first N frames of the video per run")
    parser.add_argument("--quiet-cpu", action="store_true", help="record that the training jobs were paused while this ran")
    parser.add_argument("--heldout", nargs="+", default=[f"{HELDOUT_SEED}:{HELDOUT_FRAMES}"], metavar="SEED:FRAMES",
                        help="heldout section: the held-out videos (seed and frames), made here when missing")
    parser.add_argument("--student", type=Path, default=STUDENT, help="the distilled student's checkpoint (its rows are left out when missing)")
    args = parser.parse_args()
    heldout_videos(args.heldout)  # the format checked before a video is made
    CPU_NOTE[0] = QUIET_CPU_NOTE if args.quiet_cpu else SHARED_CPU_NOTE
    truth_path = args.video.with_suffix(".json")
    if not truth_path.exists():
        make_video(args.video, frames=args.frames)
    meta = json.loads(truth_path.read_text())
    heldout_specs = heldout_videos(args.heldout, benchmark_seed=meta["seed"])
    truth = meta["truth"]
    previous = RESULTS / f"{RESULT_NAME}.json"
    result: dict[str, Any] = json.loads(previous.read_text()) if previous.exists() else {}
    result["benchmark_video"] = {k: v for k, v in meta.items() if k not in ("truth", "faces", "video")} | {
        "faces": len(meta["faces"]), "occluded_faces": sum(f["occluded"] for f in meta["faces"]), "generator": "benchmarks/make_realtime_video.py"}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        needs_models = set(args.sections) & {"crops", "tta", "video", "breakdown", "heldout"}  # detectors/camera alone skip the exports
        models = model_files(tmp, args.student) if needs_models else {}
        for section in args.sections:
            started = time.perf_counter()
            if section == "crops":
                rows: Any = crops_section(models)
            elif section == "tta":
                rows = tta_section(models)
            elif section == "detectors":
                rows = detectors_section(args.video, truth)
            elif section == "breakdown":
                rows = breakdown_section(args.video, truth, models)
            elif section == "video":
                names = [run[0] for run in VIDEO_RUNS]
                # runs not re-measured now; a kept row of a run no longer defined is dropped (the sort needs its place)
                kept = [r for r in result.get("video", {}).get("rows", []) if args.runs and r["name"] not in args.runs and r["name"] in names]

                def save(new_rows: list[dict], kept: list[dict] = kept, started: float = started, stamp: dict = row_stamp()) -> None:
                    for row in new_rows:  # each row names its own run: kept rows come from earlier commits
                        row.setdefault("measured", stamp)
                    result["video"] = {"rows": sorted(kept + new_rows, key=lambda r: names.index(r["name"])), **section_provenance(started)}
                    write_result(RESULT_NAME, result)

                rows = video_section(args.video, truth, models, tmp, args.runs, args.max_frames, on_row=save)
                rows = sorted(kept + rows, key=lambda r: names.index(r["name"]))
            elif section == "heldout":
                videos = {meta["seed"]: args.video}
                for seed, frames in heldout_specs:
                    videos[seed] = args.video.with_name(f"{args.video.stem}-seed{seed}-{frames}f{args.video.suffix}")
                    held_truth = videos[seed].with_suffix(".json")
                    # a video made before held-out videos left out the benchmark's faces is made again
                    if not held_truth.exists() or json.loads(held_truth.read_text()).get("excludes_faces_of_seed") != meta["seed"]:
                        make_video(videos[seed], frames=frames, seed=seed, exclude_faces_of=truth_path)
                rows = heldout_section(videos, models, args.heldout_runs)
                stamp = row_stamp()
                for row in rows:
                    row["measured"] = stamp
                if args.heldout_runs:  # rows of the settings not re-measured now are kept, in HELDOUT_RUNS order
                    order = [run[0] for run in HELDOUT_RUNS]
                    fresh = {(r["name"], r["video_seed"]) for r in rows}
                    kept = [r for r in result.get("heldout", {}).get("rows", []) if (r["name"], r["video_seed"]) not in fresh and r["name"] in order]
                    rows = sorted(kept + rows, key=lambda r: order.index(r["name"]))
            else:
                rows = camera_section(args.video)
            result[section] = {"rows": rows, **section_provenance(started)}
            write_result(RESULT_NAME, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
