"""A bounded load test of ``ferkit serve`` on the loopback address: N requests, C at a time.

Starts ``ferkit serve`` (shipped model, default settings) in a subprocess on 127.0.0.1, sends
examples/astronaut.jpg to POST /v1/predict, and writes failed requests, latency percentiles and
requests per second to benchmarks/results/serve_load.json. Nothing but 127.0.0.1 is contacted.

    nice -n 5 python benchmarks/serve_load.py --requests 500 --concurrency 8
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import QUIET_CPU_NOTE, REPO, SHARED_CPU_NOTE, provenance, write_result  # noqa: E402

IMAGE = REPO / "examples" / "astronaut.jpg"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, extra: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "ferkit.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *extra], env=env)


def wait_ready(client: httpx.Client, server: subprocess.Popen, deadline_s: float = 300) -> None:
    """Poll /healthz until the model is loaded (a benchmark may wait; tests never do)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if server.poll() is not None:
            raise SystemExit(f"ferkit serve exited with status {server.returncode}")
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("ferkit serve did not answer /healthz in time")


def one_request(client: httpx.Client, payload: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        status = client.post("/v1/predict", files={"file": ("astronaut.jpg", payload, "image/jpeg")}).status_code
    except httpx.HTTPError:
        status = 0
    return status, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--server-arg", action="append", default=[], help="passed to ferkit serve, e.g. --server-arg=--tta=none")
    parser.add_argument("--quiet-cpu", action="store_true", help="record that the training jobs were paused while this ran")
    args = parser.parse_args()
    port = free_port()
    payload = IMAGE.read_bytes()
    server = start_server(port, args.server_arg)
    try:
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits) as client:
            wait_ready(client, server)
            for _ in range(args.warmup):
                one_request(client, payload)
            load_before = os.getloadavg()
            started = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                outcomes = list(pool.map(lambda _: one_request(client, payload), range(args.requests)))
            wall = time.perf_counter() - started
            load_after = os.getloadavg()
            settings = client.get("/v1/model").json()
    finally:
        server.terminate()
        server.wait(30)
    statuses = Counter(status for status, _ in outcomes)
    latencies_ms = np.array([seconds * 1000 for _, seconds in outcomes])
    result = {
        "what": f"POST /v1/predict with {IMAGE.name} ({len(payload)} bytes, one face), {args.requests} requests, {args.concurrency} at a time",
        "server": {"model": settings["file"], "architecture": settings["architecture"], "detector": settings.get("detector_backend") or settings["detector"], "tta": settings["tta"],
                   "options": args.server_arg or "defaults (1 model worker, queue 16)"},
        "requests": args.requests, "concurrency": args.concurrency, "failed": args.requests - statuses.get(200, 0),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": {"p50": round(float(np.percentile(latencies_ms, 50)), 1), "p95": round(float(np.percentile(latencies_ms, 95)), 1),
                       "p99": round(float(np.percentile(latencies_ms, 99)), 1), "max": round(float(latencies_ms.max()), 1)},
        "requests_per_s": round(args.requests / wall, 2), "wall_s": round(wall, 1),
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
        "note": "client and server on one machine; " + (QUIET_CPU_NOTE if args.quiet_cpu else SHARED_CPU_NOTE),
        **provenance("cpu"),
    }
    write_result("serve_load", result)
    print(f"{result['failed']} failed; p50 {result['latency_ms']['p50']} ms, p95 {result['latency_ms']['p95']} ms, {result['requests_per_s']} requests/s")


if __name__ == "__main__":
    main()
