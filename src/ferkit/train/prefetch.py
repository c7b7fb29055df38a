"""Draw the next batches' occluders on a thread while the current batch trains.

Drawing synthetic occluders is single-threaded Python and OpenCV on the host (py-spy on the
FER2013 long run: a fifth of the step), while forward and backward run in PyTorch with the GIL
released. A thread that works a few batches ahead overlaps the two.

The thread takes the epoch's batch indices and each batch's occluder draws from the run's numpy
generator in exactly the order the loop would, so a prefetched epoch is bit for bit the epoch
without it, and the generator's state at the epoch's end (saved in ``last.pt``) is the same.
That only holds while nothing else draws from that generator during the epoch, so the loop
prefetches only when the batch maker says it is safe (``BatchMaker.can_prefetch``).
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np

Drawn = TypeVar("Drawn")

_DONE = object()


def prefetched(batches: Iterable[np.ndarray], draw: Callable[[np.ndarray], Drawn], *, depth: int = 2) -> Iterator[tuple[np.ndarray, Drawn]]:
    """(indices, draw(indices)) for each batch, computed up to ``depth`` batches ahead on one thread.

    An error on the thread is raised here, at the batch it happened on. Closing the iterator early
    (an error in the loop, ``break``) stops the thread after the batch it is drawing.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Put ``item`` on the queue unless the loop has stopped listening; False when it has."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for indices in batches:
                if not offer((indices, draw(indices))):
                    return
            offer(_DONE)
        except BaseException as error:  # handed to the loop, raised there
            offer(error)

    thread = threading.Thread(target=work, name="ferkit-occluder-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
