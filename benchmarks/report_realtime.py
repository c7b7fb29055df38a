"""Tables of docs/realtime.md, rendered from benchmarks/results/realtime_cpu.json (see report.py)."""

from __future__ import annotations

import json
from typing import Any, Callable

from common import RESULTS

NOT_RUN = "Not run in this session: `python benchmarks/realtime.py --sections {}`."
STAGES = ("decode", "detect", "follow", "align", "classify", "smooth", "annotate", "write")


def _section(name: str) -> dict[str, Any] | None:
    path = RESULTS / "realtime_cpu.json"
    if not path.exists():
        return None
    return json.loads(path.read_text()).get(name)


def _footer(section: dict[str, Any]) -> str:
    load = ", ".join(f"{v:.2f}" for v in section["loadavg"])
    return f"\n{section['device']}; commit {section['commit']}; {section['date']}; load average {load} ({section['cpu_note']})."


def _earlier_rows(section: dict[str, Any]) -> str:
    """A sentence when some rows may come from runs before the section's last one (whose provenance the footer gives):
    ``--runs`` and ``--heldout-runs`` keep the rows they do not re-measure."""
    earlier = [r for r in section["rows"] if "measured" in r and r["measured"]["commit"] != section["commit"]]
    unstamped = [r for r in section["rows"] if "measured" not in r]
    parts = []
    if earlier:
        parts.append(f"{len(earlier)} were kept from earlier runs at commit(s) {', '.join(sorted({r['measured']['commit'] for r in earlier}))}")
    if unstamped:
        parts.append(f"{len(unstamped)} do not name their run (measured before rows were stamped)")
    if not parts:
        return ""
    return f"\nOf {len(section['rows'])} rows, {' and '.join(parts)}: the line below describes the section's last run only."


def block_crops() -> str:
    s = _section("crops")
    if s is None:
        return NOT_RUN.format("crops")
    lines = ["| Model | Backend | TTA | Faces/s (batch 64), median batch | Faces/s, mean | Faces per CPU-second |", "|---|---|---|---|---|---|"]
    for r in s["rows"]:
        lines.append(f"| {r['model']} | {r['backend']} | {r['tta']} | {r['faces_per_s']:.0f} | {r['faces_per_s_mean']:.0f} | {r['faces_per_cpu_s']:.0f} |")
    return "\n".join(lines) + f"\n\n{s['rows'][0]['batches']} batches of 64 each; the median batch time is robust to bursts of the other jobs on the CPU." + _footer(s)


def block_tta() -> str:
    s = _section("tta")
    if s is None:
        return NOT_RUN.format("tta")
    lines = ["| Model | TTA | PublicTest accuracy | Faces/s (ONNX Runtime, all 3589 at once) |", "|---|---|---|---|"]
    for r in s["rows"]:
        speed = "–" if r["faces_per_s"] is None else f"{r['faces_per_s']:.0f}"
        lines.append(f"| {r['model']} | {r['tta']} | {100 * r['accuracy']:.2f} | {speed} |")
    sources = sorted({r["source"] for r in s["rows"] if r.get("source")})
    if sources:
        lines.append(f"\nThe ensemble's rows come from {', '.join(sources)}, which scored the shipped file.")
    return "\n".join(lines) + "\n" + _footer(s)


def block_detectors() -> str:
    s = _section("detectors")
    if s is None:
        return NOT_RUN.format("detectors")
    lines = ["| Detector | Detection scale | ms per 640x480 frame (median, wall) | CPU ms per frame | Recall, clean faces | Recall, occluded faces | False positives per frame |",
             "|---|---|---|---|---|---|---|"]
    for r in s["rows"]:
        options = ", ".join(f"{k} {tuple(v) if isinstance(v, list) else v}" for k, v in r.get("options", {}).items())
        lines.append(f"| {r['detector']}{' (' + options + ')' if options else ''} | {r['scale']} | {r['ms_per_frame']:.1f} | {r['cpu_ms_per_frame']:.1f} | {100 * r['recall_clean']:.1f} | "
                     f"{100 * r['recall_occluded']:.1f} | {r['false_positives_per_frame']:.2f} |")
    first = s["rows"][0]
    return "\n".join(lines) + f"\n\n{first['frames']} frames (every {first.get('every_nth', 10)}th of the benchmark video), {first['faces_clean']} clean and {first['faces_occluded']} occluded faces." + _footer(s)


def block_video() -> str:
    s = _section("video")
    if s is None:
        return NOT_RUN.format("video")
    lines = ["| Run | Model, backend, TTA | Detector, every k, scale | Look back | Frames | Frames/s (median / wall) | CPU ms per frame | Face accuracy (all / clean / occluded) | Recall (clean / occluded) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in s["rows"]:
        lines.append(f"| {r['name']} | {r['model']}, {r['backend']}, {r['tta']} | {r['detector']}, {r['detect_every']}, {r['detect_scale']} | {r.get('look_back', 0)} | {r['frames']} | "
                     f"{r['frames_per_s_median']:.1f} / {r['frames_per_s']:.1f} | {r['cpu_ms_per_frame']:.1f} | {100 * r['accuracy']:.1f} / {100 * r['accuracy_clean']:.1f} / {100 * r['accuracy_occluded']:.1f} | "
                     f"{100 * r['recall_clean']:.1f} / {100 * r['recall_occluded']:.1f} |")
    shorter = " (the slow \"before\" runs stop earlier)" if len({r["frames"] for r in s["rows"]}) > 1 else ""
    return "\n".join(lines) + (f"\n\nEvery frame classified; Frames: the first N frames of the benchmark video{shorter}. Look back: frames held so that a "
                                "face found late is followed back into them (0 for rows measured before it existed). Faces are cut with the default "
                                "alignment (box: the detector's box framed as FER2013 crops are) unless the run's name says otherwise. "
                                "Frames/s: *median* from the median time per window of k frames (robust to bursts of the other jobs on the shared CPU), *wall* from the run's total time.") + _earlier_rows(s) + _footer(s)


def block_stages() -> str:
    s = _section("video")
    if s is None:
        return NOT_RUN.format("video")
    lines = ["| Run | " + " | ".join(STAGES) + " | Frames/s |", "|---|" + "---|" * (len(STAGES) + 1)]
    for r in s["rows"]:
        ms = r["stages_ms_per_frame"]
        lines.append(f"| {r['name']} | " + " | ".join(f"{ms[k]:.2f}" if k in ms else "–" for k in STAGES) + f" | {r['frames_per_s']:.1f} |")
    return "\n".join(lines) + "\n\nMilliseconds per frame. decode = waiting for the next decoded frame (with read-ahead the decoding itself runs on a thread)." + _earlier_rows(s) + _footer(s)


def block_camera() -> str:
    s = _section("camera")
    if s is None:
        return NOT_RUN.format("camera")
    r = s["rows"]
    return (f"`{r['command']}`: {r['frames_per_s_median']:.1f} frames/s (median; {r['frames_per_s']:.1f} from the wall time) over {r['frames']} frames, every frame classified with the default settings; "
            f"{r['note']}." + _footer(s))


def _find(rows: list[dict], **fields: Any) -> dict | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in fields.items())), None)


def block_breakdown() -> str:
    s = _section("breakdown")
    if s is None:
        return NOT_RUN.format("breakdown")
    by = {(r["crop"], r["occluded"]): r for r in s["rows"]}
    lines = ["| Crop | Clean faces: accuracy (faces) | Occluded faces: accuracy (faces) |", "|---|---|---|"]
    for crop in ("true box", "true box, found faces", "detector box, FER2013 framing", "detector box, square", "detector landmarks"):
        cells = [f"{100 * by[crop, o]['accuracy']:.1f} ({by[crop, o]['faces']})" if (crop, o) in by else "–" for o in (False, True)]
        lines.append(f"| {crop} | " + " | ".join(cells) + " |")
    first = s["rows"][0]
    return "\n".join(lines) + (f"\n\nThe {first['model']} network without TTA on every {first['every_nth']}th frame; detector rows cover the faces "
                               f"{first['detector']} finds (IoU >= 0.3 with a true box).") + _footer(s)


def block_targets() -> str:
    """Issue 17's targets against the measured rows: the shipped model's defaults and the single-network option."""
    crops, video = _section("crops"), _section("video")
    if crops is None or video is None:
        return NOT_RUN.format("crops video")
    lines = ["| Target | Setting | Measured (wall clock) | Measured from CPU time |", "|---|---|---|---|"]
    for model, tta in (("ensemble", "flip"), ("single", "none"), ("single int8", "none"), ("student", "none"), ("student int8", "none")):
        r = _find(crops["rows"], model=model, backend="onnx", tta=tta)
        if r:
            lines.append(f"| >= 2000 faces/s, 48x48 crops at batch 64 | {model}, ONNX Runtime, TTA {tta} | {r['faces_per_s']:.0f} faces/s | "
                         f"{r['faces_per_cpu_s']:.0f} faces per CPU-second |")
    for name in ("defaults: mtcnn, scale 0.5, every 3, ensemble + flip", "mtcnn, scale 0.5, every 3", "mtcnn, scale 0.5, every 5, single int8",
                 "mtcnn, scale 0.5, every 3, student", "mtcnn, scale 0.5, every 3, student int8"):
        r = _find(video["rows"], name=name)
        if r:
            lines.append(f"| >= 60 frames/s at >= 65% face accuracy, every frame classified | {r['model']}, TTA {r['tta']}, {r['detector']} every "
                         f"{r['detect_every']} at scale {r['detect_scale']} | {r['frames_per_s_median']:.1f} frames/s, {100 * r['accuracy']:.1f}% | "
                         f"{1000 / r['cpu_ms_per_frame']:.0f} frames per CPU-second |")
    return "\n".join(lines) + ("\n\nCPU-time figures divide the work done by the CPU time this process was given (all its threads), so they "
                               f"estimate one idle core. Wall clock: crops {crops['cpu_note']}; video {video['cpu_note']}.")


def block_heldout() -> str:
    s = _section("heldout")
    if s is None:
        return NOT_RUN.format("heldout")
    seeds = sorted({r["video_seed"] for r in s["rows"]})
    benchmark = (_section("benchmark_video") or {}).get("seed", 0)  # the seed of the video realtime.py ran on (make_video's default)
    seeds = sorted(seeds, key=lambda seed: seed != benchmark)  # the benchmark's column first
    by = {(r["name"], r["video_seed"]): r for r in s["rows"]}
    lines = ["| Setting | Look back | " + " | ".join(f"Video seed {seed}{' (the benchmark)' if seed == benchmark else ' (held out)'}: all / clean / occluded, false positives per frame"
                                         for seed in seeds) + " |", "|---|---|" + "---|" * len(seeds)]
    for name in dict.fromkeys(r["name"] for r in s["rows"]):
        cells = [f"{100 * r['accuracy']:.1f} / {100 * r['accuracy_clean']:.1f} / {100 * r['accuracy_occluded']:.1f}, {r['false_positives_per_frame']:.3f}"
                 if (r := by.get((name, seed))) else "–" for seed in seeds]
        look_back = sorted({r.get("look_back", 0) for r in s["rows"] if r["name"] == name})
        lines.append(f"| {name} | {', '.join(map(str, look_back))} | " + " | ".join(cells) + " |")
    per_seed = {r["video_seed"]: r for r in s["rows"]}
    videos = "; ".join(f"seed {seed}: {per_seed[seed]['distinct_faces']} faces, {per_seed[seed]['distinct_occluded_faces']} occluded"
                       + (", none of them in the benchmark video" if per_seed[seed].get("excludes_faces_of_seed") == benchmark else
                          "" if seed == benchmark else ", some shared with the benchmark video (made before held-out videos left its faces out)")
                       for seed in seeds)
    return "\n".join(lines) + (f"\n\nFace accuracy (%) of the single network, detection every 3rd frame at half size; a missed face counts as wrong. "
                               f"Videos: {videos}.") + _earlier_rows(s) + _footer(s)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def block_occluders() -> str:
    """Recall per detector and classifier accuracy per hidden part and per occluder kind (occluder_recall.py)."""
    path = RESULTS / "occluder_recall_cpu.json"
    if not path.exists():
        return "Not run in this session: `python benchmarks/occluder_recall.py`."
    s = json.loads(path.read_text())
    labels = [d["label"] for d in s["detectors"]]
    blocks = []
    for key, title in (("by_group", "What the occluder hides"), ("by_kind", "Occluder")):
        lines = [f"| {title} | Faces | " + " | ".join(f"Recall: {label}" for label in labels)
                 + " | Classifier, true box: all | found | missed | Face accuracy, video default |", "|---|---|" + "---|" * (len(labels) + 4)]
        for r in s[key]:
            lines.append(f"| {r['group' if key == 'by_group' else 'kind']} | {r['faces']} | " + " | ".join(_percent(r["recall"][label]) for label in labels)
                         + f" | {_percent(r['accuracy_true_box'])} | {_percent(r['accuracy_found'])} | {_percent(r['accuracy_missed'])} | {_percent(r['face_accuracy_default'])} |")
        blocks.append("\n".join(lines))
    false_positives = "; ".join(f"{d['label']} {d['false_positives_per_frame']['on_faces']:.3f} on faces + "
                                f"{d['false_positives_per_frame']['background']:.3f} on the background" for d in s["detectors"])
    photos = s.get("real_photos")
    if photos:
        names = list(photos[0]["photos"])
        lines = ["| Detector (full size) | " + " | ".join(f"{n}: boxes / faces" for n in names) + " | Boxes beyond the faces |", "|---|" + "---|" * (len(names) + 1)]
        for r in photos:
            lines.append(f"| {r['label']} | " + " | ".join(f"{r['photos'][n]['boxes']} / {r['photos'][n]['faces']}" for n in names) + f" | {r['extra_boxes']} |")
        blocks.append("\n".join(lines))
    return ("\n\n".join(blocks) + f"\n\n{s['faces']} {s['source']} faces in {s['frames']} frames (seed {s['seed']}); a part is hidden when at least "
            f"{100 * s['hidden_threshold']:.0f}% of its box is covered. Found and missed: by the video default. Classifier: {s['classifier']}. "
            f"False positives per frame: {false_positives}.\n{s['device']}; commit {s['commit']}; {s['date']}.")


BLOCKS: dict[str, Callable[[], str]] = {
    "realtime_targets": block_targets,
    "realtime_crops": block_crops, "realtime_tta": block_tta, "realtime_detectors": block_detectors,
    "realtime_video": block_video, "realtime_breakdown": block_breakdown, "realtime_stages": block_stages, "realtime_camera": block_camera,
    "realtime_occluders": block_occluders, "realtime_heldout": block_heldout,
}
