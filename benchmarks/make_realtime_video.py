"""A 640x480 benchmark video with ground truth: FER2013 PublicTest faces that move and change size.

    python benchmarks/make_realtime_video.py --out /tmp/ferkit-realtime/realtime.avi

Two to four faces per frame, each a PublicTest image (never PrivateTest: that split stays for final
scores) shown for 15-40 frames while it drifts across its quarter of the frame and grows and shrinks
between 64 and 150 pixels; a third of the faces carry one of ferkit's synthetic occluders (masks, hands,
sunglasses, ...; 15-45% of the face covered). The ground truth (box, label, occluded) of every face in
every frame, and per face its occluder, region and how much of its eyes and mouth is hidden, is written
next to the video as ``<name>.json``. Both go to a temporary path: the video is
regenerated from the seed, never committed. A held-out video (another seed) passes the benchmark video's ground
truth as ``exclude_faces_of`` so that it shows none of the benchmark's faces.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA  # noqa: E402

from ferkit.io_utils import atomic_write_json  # noqa: E402

WIDTH, HEIGHT = 640, 480
CELLS = [(0, 0), (320, 0), (0, 240), (320, 240)]  # one face at a time per quarter: faces never overlap
CELL_W, CELL_H = 320, 240
DEFAULT_OUT = Path(tempfile.gettempdir()) / "ferkit-realtime" / "realtime.avi"


@dataclass
class FaceTrack:
    face_id: int
    cell: int
    start: int
    end: int  # exclusive
    image: np.ndarray  # (48, 48, 3) BGR, occluded or clean
    label: str
    occluded: bool
    occluder: str
    region: str
    covered: dict[str, float]  # covered share of the whole face, of its eye boxes and of its mouth box (0 when clean)
    source_id: str
    size0: float
    size_amplitude: float
    period: float
    phase: float
    x0: float
    y0: float
    vx: float
    vy: float

    def box(self, frame: int) -> tuple[int, int, int, int]:
        """(x, y, w, h) in frame pixels: size oscillates, the centre moves and bounces inside the cell."""
        t = frame - self.start
        size = int(round(self.size0 + self.size_amplitude * np.sin(2 * np.pi * t / self.period + self.phase)))
        cx0, cy0 = CELLS[self.cell]
        x = _bounce(self.x0 + self.vx * t, CELL_W - size - 8) + 4
        y = _bounce(self.y0 + self.vy * t, CELL_H - size - 8) + 4
        return cx0 + int(round(x)), cy0 + int(round(y)), size, size


def _bounce(position: float, span: float) -> float:
    """Position reflected at 0 and ``span`` (a ball bouncing between two walls)."""
    if span <= 0:
        return 0.0
    period = 2 * span
    p = position % period
    return p if p <= span else period - p


def _background(rng: np.random.Generator) -> np.ndarray:
    """A smooth colour gradient with mild texture, so detectors have something that is not a face."""
    import cv2

    coarse = rng.integers(40, 200, (4, 5, 3)).astype(np.uint8)
    background = cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    background += rng.integers(-12, 13, (HEIGHT, WIDTH, 1)).astype(np.int16)
    return np.clip(background, 0, 255).astype(np.uint8)


# Eye and mouth boxes as fractions (x0, y0, x1, y1) of a FER2013 crop, around ferkit's canonical landmarks
# (eyes at (0.31, 0.39) and (0.69, 0.39), mouth corners at y 0.78): what an occluder hides, for the per-occluder table.
EYE_BOXES = ((0.19, 0.30, 0.43, 0.48), (0.57, 0.30, 0.81, 0.48))
MOUTH_BOX = (0.30, 0.68, 0.70, 0.88)


def covered_parts(mask: np.ndarray) -> dict[str, float]:
    """Share of the face, of the two eye boxes together and of the mouth box that ``mask`` (H, W) bool covers."""
    h, w = mask.shape

    def share(boxes: tuple[tuple[float, float, float, float], ...]) -> float:
        cells = [mask[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w)] for x0, y0, x1, y1 in boxes]
        return round(float(sum(c.sum() for c in cells) / sum(c.size for c in cells)), 3)

    return {"face": round(float(mask.mean()), 3), "eyes": share(EYE_BOXES), "mouth": share((MOUTH_BOX,))}


def build_tracks(frames: int, seed: int, occluded_share: float, exclude_sources: frozenset[str] = frozenset()) -> list[FaceTrack]:
    """Face schedule: quarters 0 and 1 always hold a face, quarters 2 and 3 with gaps: 2-4 faces per frame.
    No face is drawn from ``exclude_sources`` (FER2013 ids); the other random draws do not depend on it."""
    import cv2

    from ferkit.data import load_fer2013
    from ferkit.occlusion import OCCLUDER_KINDS, REGIONS, apply_occlusion

    dataset = load_fer2013(SHARED_DATA / "fer2013", "PublicTest")
    if not all(Path(i).name.startswith("PublicTest") for i in dataset.ids):
        raise SystemExit("refusing: the benchmark video must use PublicTest faces only")
    rng = np.random.default_rng(seed)
    order = [int(i) for i in rng.permutation(len(dataset)) if dataset.ids[int(i)] not in exclude_sources]
    tracks: list[FaceTrack] = []
    for cell in range(4):
        t = 0 if cell < 2 else int(rng.integers(0, 40))
        while t < frames:
            length = int(rng.integers(15, 41))
            if len(tracks) >= len(order):
                raise SystemExit(f"only {len(order)} PublicTest faces left after the exclusions; ask for fewer frames")
            index = order[len(tracks)]
            image = cv2.cvtColor(dataset.images[index], cv2.COLOR_GRAY2BGR)
            occluded = bool(rng.random() < occluded_share)
            kind, region, covered = "", "", {"face": 0.0, "eyes": 0.0, "mouth": 0.0}
            if occluded:
                result = apply_occlusion(image, kind=str(rng.choice(list(OCCLUDER_KINDS))), region=str(rng.choice(list(REGIONS))),
                                         occlusion_ratio=float(rng.uniform(0.15, 0.45)), rng=rng, fallback_kinds=list(OCCLUDER_KINDS))
                image, kind, region, covered = result.image, result.kind, result.region, covered_parts(result.mask)
            size0 = float(rng.uniform(85, 125))
            tracks.append(FaceTrack(
                face_id=len(tracks), cell=cell, start=t, end=min(frames, t + length), image=image,
                label=dataset.class_names[int(dataset.labels[index])], occluded=occluded, occluder=kind, region=region, covered=covered, source_id=dataset.ids[index],
                size0=size0, size_amplitude=float(min(size0 - 64, 150 - size0, rng.uniform(10, 30))), period=float(rng.uniform(40, 90)),
                phase=float(rng.uniform(0, 2 * np.pi)), x0=float(rng.uniform(0, 100)), y0=float(rng.uniform(0, 60)),
                vx=float(rng.choice([-1, 1]) * rng.uniform(0.8, 2.5)), vy=float(rng.choice([-1, 1]) * rng.uniform(0.5, 1.5)),
            ))
            t += length + (0 if cell < 2 else int(rng.integers(0, 30)))
    return tracks


def excluded_faces(truth_path: Path | None) -> tuple[frozenset[str], int | None]:
    """The FER2013 ids shown in the video whose ground truth is ``truth_path``, and that video's seed."""
    if truth_path is None:
        return frozenset(), None
    meta = json.loads(Path(truth_path).read_text())
    return frozenset(face["source_id"] for face in meta["faces"]), int(meta["seed"])


def make_video(out: Path, *, frames: int = 600, fps: float = 25.0, seed: int = 0, occluded_share: float = 1 / 3,
               exclude_faces_of: Path | None = None) -> Path:
    """Write the video to ``out`` and its ground truth to ``out.with_suffix('.json')``; returns the JSON path.

    ``exclude_faces_of``: another video's ground truth whose faces this one must not show (a held-out video)."""
    import cv2

    from ferkit.video import VideoWriter

    excluded, excluded_seed = excluded_faces(exclude_faces_of)
    tracks = build_tracks(frames, seed, occluded_share, excluded)
    background = _background(np.random.default_rng(seed + 1))
    truth = []
    with VideoWriter(out, fps=fps, frame_size=(WIDTH, HEIGHT), codec="MJPG", overwrite=True) as writer:
        for frame_index in range(frames):
            canvas = background.copy()
            faces = []
            for track in tracks:
                if not track.start <= frame_index < track.end:
                    continue
                x, y, w, h = track.box(frame_index)
                canvas[y : y + h, x : x + w] = cv2.resize(track.image, (w, h), interpolation=cv2.INTER_LINEAR)
                faces.append({"face_id": track.face_id, "box": [x, y, w, h], "label": track.label, "occluded": track.occluded})
            writer.write(canvas)
            truth.append(faces)
    counts = [len(f) for f in truth]
    meta = {
        "video": str(out), "frames": frames, "fps": fps, "seed": seed, "width": WIDTH, "height": HEIGHT, "source": "FER2013 PublicTest",
        "faces": [{"face_id": t.face_id, "source_id": t.source_id, "label": t.label, "occluded": t.occluded, "occluder": t.occluder,
                   "region": t.region, "covered": t.covered,
                   "first_frame": t.start, "last_frame": t.end - 1} for t in tracks if t.start < frames],
        "faces_per_frame": {"min": min(counts), "max": max(counts), "mean": round(float(np.mean(counts)), 3)},
        "excludes_faces_of_seed": excluded_seed,
        "truth": truth,
    }
    return atomic_write_json(out.with_suffix(".json"), meta)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    path = make_video(args.out, frames=args.frames, seed=args.seed)
    meta = json.loads(path.read_text())
    occluded = sum(f["occluded"] for f in meta["faces"])
    print(f"wrote {args.out} and {path}: {args.frames} frames, {len(meta['faces'])} faces ({occluded} occluded), "
          f"{meta['faces_per_frame']['min']}-{meta['faces_per_frame']['max']} per frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
