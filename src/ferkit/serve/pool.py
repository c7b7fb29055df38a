"""A bounded pool for model calls: a burst queues up to a limit, beyond it requests are refused (503).

The event loop never runs the model itself, so health checks and the page stay responsive while the
workers are busy. A request that runs past its time limit is answered with 504; its call cannot be
interrupted mid-forward, so its slot stays taken until the call really ends (the count stays honest).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from ferkit.serve.errors import RequestTimeout, ServerBusy

T = TypeVar("T")


class WorkerPool:
    """``workers`` threads; at most ``workers + max_queue`` calls admitted at once."""

    def __init__(self, workers: int, max_queue: int) -> None:
        self.workers = workers
        self.capacity = workers + max_queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ferkit-serve")
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        """Calls running or waiting now."""
        with self._lock:
            return self._admitted

    async def run(self, call: Callable[[], T], *, timeout_s: float) -> T:
        """Run ``call`` on a worker; ServerBusy when the queue is full, RequestTimeout after ``timeout_s``."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise ServerBusy(f"the server is busy ({self.capacity} requests running or queued); retry shortly")
            self._admitted += 1
        try:
            future = self._executor.submit(call)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _: self._release())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except asyncio.TimeoutError:
            future.cancel()  # frees the slot at once if it was still queued
            raise RequestTimeout(f"the request took longer than {timeout_s:g} s; retry, or send a smaller image") from None

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
