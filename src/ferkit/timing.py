"""Per-stage wall-clock time of a pipeline (decode, detect, align, classify, ...), for the speed benchmark.

Why: "frames per second" alone does not say what to make faster; the video path records its stages here
when given a ``StageTimer``, and costs nothing extra without one.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from typing import Iterator


class StageTimer:
    """Sums seconds per named stage; ``per_frame_ms(frames)`` divides by the frame count."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] += seconds

    def per_frame_ms(self, frames: int) -> dict[str, float]:
        return {name: round(1000.0 * total / max(1, frames), 3) for name, total in self.seconds.items()}


def timed(timer: StageTimer | None, name: str) -> contextlib.AbstractContextManager:
    """``timer.stage(name)``, or a no-op context when there is no timer."""
    return contextlib.nullcontext() if timer is None else timer.stage(name)
