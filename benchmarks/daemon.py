"""Benchmark the daemon: OSC round-trip latency, a load test, memory over many requests.

Starts `symbolic-ai serve` as a subprocess on free ports and prints one JSON line:
- `latency`: OSC round trip for `key` on a 16-bar phrase (64 notes sent as a note list, to the
  `done` message), p50/p99 in ms; `model_ms`: the task alone in this process; `job_run_ms`: the
  daemon's own run time for those jobs; `overhead_p99_ms` = round trip p99 - job run p99
  (target < 20 ms).
- `load`: 8 clients x 200 requests at once, each client one request at a time; `lost` must be 0.
- `memory`: the daemon's RSS after 1,000 and after 10,000 requests (no growth expected); its main
  process, and its worker processes (the fork server's children) summed.
- `start_s`: from starting the process to its start-up line (workers forked, models loaded).

    .venv/bin/python benchmarks/daemon.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np

from symbolic_ai import registry
from symbolic_ai.bridges.client import OscClient
from symbolic_ai.bridges.wire import piece_from_notes

SCALE = (0, 2, 4, 5, 7, 9, 11, 12)
PHRASE = [(60 + SCALE[(i * 3) % 8] - (12 if i % 16 >= 12 else 0), 90, float(i), 1.0, 1) for i in range(64)]


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(xs, q)), 3)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        kb = int(re.search(r"VmRSS:\s+(\d+)", fh.read()).group(1))
    return round(kb / 1024, 1)


def children(pid: int) -> list[int]:
    out = []
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                with open(f"/proc/{stat}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(stat))
            except OSError:
                pass
    return out


def workers_rss_mb(pid: int) -> float:
    """RSS of the daemon's worker processes (children of its fork server), summed; 0 without workers."""
    return round(sum(rss_mb(w) for server in children(pid) for w in children(server)), 1)


def start() -> tuple[subprocess.Popen, tuple[str, int], str]:
    proc = subprocess.Popen([sys.executable, "-m", "symbolic_ai.cli", "serve", "--osc-port", "0", "--http-port", "0",
                             "--log-level", "warning", "--max-queue", "1024"], stdout=subprocess.PIPE, text=True)
    banner = proc.stdout.readline()
    m = re.search(r"OSC udp://([\d.]+):(\d+)", banner)
    url = re.search(r"HTTP (http://[\d.:]+)", banner).group(1)
    return proc, (m.group(1), int(m.group(2))), url


def latency(osc: tuple[str, int], url: str, n: int) -> dict:
    with OscClient(osc, timeout_s=10) as c:
        for _ in range(20):
            c.run_notes("key", PHRASE)
        rtt = []
        for _ in range(n):
            t0 = time.perf_counter()
            reply = c.run_notes("key", PHRASE, progress=0)
            rtt.append((time.perf_counter() - t0) * 1000)
            assert reply.done, reply.error
    jobs = json.load(urllib.request.urlopen(f"{url}/sai/jobs"))["jobs"]
    run = [j["timing_ms"]["run"] for j in jobs if j["state"] == "done"][-min(n, 100):]
    piece = piece_from_notes(PHRASE)
    model = []
    for _ in range(n):
        t0 = time.perf_counter()
        registry.run("key", piece)
        model.append((time.perf_counter() - t0) * 1000)
    return {"requests": n, "notes": len(PHRASE), "p50_ms": pct(rtt, 50), "p99_ms": pct(rtt, 99),
            "model_ms": {"p50": pct(model, 50), "p99": pct(model, 99)},
            "job_run_ms": {"p50": pct(run, 50), "p99": pct(run, 99)},
            "overhead_p50_ms": round(pct(rtt, 50) - pct(run, 50), 3),
            "overhead_p99_ms": round(pct(rtt, 99) - pct(run, 99), 3)}


def hammer(osc: tuple[str, int], clients: int, per_client: int, notes: list = PHRASE) -> dict:
    """`clients` threads, each sending `per_client` requests one after another."""
    done, lost, errors, rtt = [0], [0], [], []
    lock = threading.Lock()

    def client(k: int) -> None:
        with OscClient(osc, timeout_s=15) as c:
            for r in range(per_client):
                t0 = time.perf_counter()
                try:
                    reply = c.run_notes("key", notes, rid=r + 1, progress=0)
                except TimeoutError:
                    with lock:
                        lost[0] += 1
                    continue
                with lock:
                    rtt.append((time.perf_counter() - t0) * 1000)
                    if reply.done:
                        done[0] += 1
                    else:
                        errors.append(reply.error)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "requests": clients * per_client, "done": done[0], "lost": lost[0],
            "errors": len(errors), "first_error": errors[0] if errors else None, "wall_s": round(wall, 2),
            "per_s": round(clients * per_client / wall, 1), "p50_ms": pct(rtt, 50) if rtt else None,
            "p99_ms": pct(rtt, 99) if rtt else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10x fewer requests (a smoke run)")
    args = ap.parse_args()
    k = 10 if args.quick else 1
    t0 = time.perf_counter()
    proc, osc, url = start()
    start_s = round(time.perf_counter() - t0, 2)

    def served() -> int:
        return json.load(urllib.request.urlopen(f"{url}/sai/status"))["submitted"]

    try:
        out = {"benchmark": "daemon", "python": sys.version.split()[0], "cpus": len(os.sched_getaffinity(0)),
               "loadavg_1min_start": round(os.getloadavg()[0], 2), "nice": os.nice(0), "start_s": start_s,
               "rss_start_mb": rss_mb(proc.pid), "rss_workers_start_mb": workers_rss_mb(proc.pid)}
        out["latency"] = latency(osc, url, 500 // k)
        hammer(osc, 2, max(0, 1000 // k - served()) // 2)
        at_1k, rss_1k, w_1k = served(), rss_mb(proc.pid), workers_rss_mb(proc.pid)
        hammer(osc, 2, (10000 // k - at_1k) // 2)
        at_10k, rss_10k, w_10k = served(), rss_mb(proc.pid), workers_rss_mb(proc.pid)
        out["memory"] = {"requests_a": at_1k, "rss_a_mb": rss_1k, "requests_b": at_10k, "rss_b_mb": rss_10k,
                         "growth_mb": round(rss_10k - rss_1k, 1), "workers_rss_a_mb": w_1k,
                         "workers_rss_b_mb": w_10k, "workers_growth_mb": round(w_10k - w_1k, 1)}
        out["load"] = hammer(osc, 8, 200 // k)
        status = json.load(urllib.request.urlopen(f"{url}/sai/status"))
        out["loadavg_1min_end"] = round(os.getloadavg()[0], 2)
        out["daemon_counts"] = {key: status[key] for key in ("submitted", "done", "error", "refused", "timeout", "kept")}
    finally:
        proc.terminate()
        proc.wait(30)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
