"""OSC ping latency while 4 HTTP clients keep fetching `GET /sai/jobs/N?piece=1` of a 100k-note
job (a 17 MB document): issue 22 case 9. Prints one JSON line.

    .venv/bin/python benchmarks/daemon_large_doc.py [--on-loop]

`--on-loop` serializes the document on the event loop, as the daemon did before, for comparison.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request

import numpy as np
from symbolic_ai.bridges import http
from symbolic_ai.bridges.client import OscClient
from symbolic_ai.bridges.config import Config
from symbolic_ai.bridges.server import start_background

from symbolic_ai.io.wire import dumps


async def _on_loop(self: http.HttpServer, job: object, req: object) -> str:
    return dumps(self._job_doc(job, req))  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--on-loop", action="store_true", help="serialize on the event loop (the old way)")
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    if args.on_loop:
        http.HttpServer._job_json = _on_loop  # type: ignore[method-assign]
    sys.setswitchinterval(0.001)  # as `symbolic-ai serve` sets it
    with start_background(Config(osc_port=0, http_port=0, preload=False, device="cpu")) as d:
        notes = [[48 + i % 24, 80, i * 0.25, 0.5, 1] for i in range(100_000)]
        req = urllib.request.Request(f"{d.http_url}/sai/key?wait=1", data=json.dumps({"notes": notes}).encode(),
                                     headers={"Content-Type": "application/json"})
        job = json.loads(urllib.request.urlopen(req, timeout=300).read())
        assert job["state"] == "done", job.get("error")
        url = f"{d.http_url}/sai/jobs/{job['id']}?piece=1"
        stop, sizes, lat = threading.Event(), [], []

        def getter() -> None:
            while not stop.is_set():
                sizes.append(len(urllib.request.urlopen(url, timeout=300).read()))

        with OscClient(d.osc_address, timeout_s=30) as c:
            threads = [threading.Thread(target=getter) for _ in range(4)]
            for t in threads:
                t.start()
            end = time.monotonic() + args.seconds
            while time.monotonic() < end:
                t0 = time.perf_counter()
                c.send("/sai/ping")
                c.expect("/sai/pong")
                lat.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.01)
            stop.set()
            for t in threads:
                t.join()
    print(json.dumps({"benchmark": "daemon_large_doc", "on_loop": args.on_loop, "pings": len(lat),
                      "ping_p50_ms": round(float(np.percentile(lat, 50)), 2),
                      "ping_p99_ms": round(float(np.percentile(lat, 99)), 2), "ping_max_ms": round(max(lat), 1),
                      "gets": len(sizes), "doc_mb": round(sizes[0] / 1e6, 1) if sizes else None}))


if __name__ == "__main__":
    main()
