"""Draw the batches' synthetic occluders in worker processes, for hosts whose one drawing thread bounds training.

One thread draws the occluders of about 1,250 images a second on this project's CPU
(benchmarks/occluder_prefetch_speed.py), while a GPU trains a 48x48 network many times faster: the device
waits on the host. Worker processes share no GIL and scale with the host's cores (``--occluder-workers``).

Each batch is drawn from its own generator, seeded by (run seed, epoch, rank, batch number), so what is drawn
does not depend on the number of workers or on which worker draws it, and a resumed epoch draws what it
would have. It is a different stream from the default in-process drawing (the run's own generator, in
batch order), so a run should keep one setting from start to end.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections import deque
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from ferkit.errors import ConfigError

if TYPE_CHECKING:
    from ferkit.occlusion import RandomOcclusion
    from ferkit.occlusion.batch import BatchOccluders

STREAM = 0x0CC1  # keeps these generators apart from any other (seed, epoch, ...) stream

_worker_occluder: RandomOcclusion | None = None  # each worker's copy, set once by _start_worker


def _start_worker(occluder: RandomOcclusion) -> None:
    global _worker_occluder
    _worker_occluder = occluder


def _draw(batch_size: int, image_shape: tuple[int, ...], entropy: list[int]) -> BatchOccluders:
    assert _worker_occluder is not None, "worker not started"
    return _worker_occluder.draw(batch_size, image_shape, np.random.default_rng(entropy))


def batch_entropy(seed: int, epoch: int, rank: int, batch: int) -> list[int]:
    """The seed of one batch's occluder generator."""
    return [STREAM, int(seed), int(epoch), int(rank), int(batch)]


class OccluderPool:
    """``workers`` processes drawing ``occluder``'s layers for batches of images of ``image_shape``, up to
    ``2 * workers`` batches ahead of the loop. ``close()`` ends them."""

    def __init__(self, occluder: RandomOcclusion, image_shape: tuple[int, ...], workers: int, *, seed: int, rank: int = 0) -> None:
        if workers < 1:
            raise ConfigError(f"occluder workers must be >= 1 (0 draws in the training process), got {workers}")
        self.image_shape, self.workers, self.seed, self.rank = tuple(image_shape), workers, seed, rank
        # spawn: a forked child of a process with CUDA or OpenMP threads running can hang; these only draw with numpy/OpenCV
        self.executor = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                               initializer=_start_worker, initargs=(occluder,))

    def epoch_batches(self, batches: Iterable[np.ndarray], epoch: int) -> Iterator[tuple[np.ndarray, BatchOccluders]]:
        """(indices, their occluders) for each batch of ``epoch``, in order; a worker's error is raised at its batch."""
        numbered = enumerate(batches)
        pending: deque = deque()

        def submit_next() -> None:
            item = next(numbered, None)
            if item is not None:
                number, indices = item
                entropy = batch_entropy(self.seed, epoch, self.rank, number)
                pending.append((indices, self.executor.submit(_draw, len(indices), self.image_shape, entropy)))

        for _ in range(2 * self.workers):
            submit_next()
        try:
            while pending:
                indices, future = pending.popleft()
                submit_next()
                yield indices, future.result()
        finally:
            for _, future in pending:
                future.cancel()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> OccluderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
