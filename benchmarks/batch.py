"""Throughput of `symbolic_ai.batch`: files per second for key, chords and emotion over a corpus
of MIDI files from the datasets, with 1 and 2 worker processes and with Ray on 2 CPUs, and the
size of the manifest.

    nice -n 10 .venv/bin/python benchmarks/batch.py [--files 1000] [--tasks key,chords,emotion]
                                                   [--engines process1,process2,ray2] [--data-root DIR]

The files: every MIDI file of nottingham/MIDI, emopia and pop909, in sorted order, `--files` of
them at evenly spaced places in that list (short folk tunes, pop-piano clips and whole pop songs). Each run
is `list(batch(task, files, out_dir, jobs, engine, format="none"))`, timed from the call to the last
record: worker start and model loads are included, the Ray instance's own start is not
(`ray.init` and Ray Data's detached system actors, done once before the Ray runs: `start_ray_data`).
Every model session has one onnxruntime thread (a process is one
core). `first_record_s` is the time to the first finished file (workers' start and model loads),
`steady_files_per_s` the rate after it. Prints one JSON line per task and engine, then one summary
line with the rule (with `--repeat N`, on each configuration's median files/s over N rounds):
  speedup = files/s with 2 processes ÷ with 1 process, target >= 1.8;
  ray_vs_process = files/s with Ray on 2 CPUs ÷ with 2 processes, target >= 0.8 (within 20 %).
`process1core` is the 1-process run with numpy's BLAS held to one thread (threadpoolctl), as in each
batch worker: the plain 1-process run lets numpy use a second core for part of the work, so
`speedup_over_one_core` is the scaling per core and `speedup` what a user sees from `--jobs 2`.
On a machine whose two cores are shared with other work, the ratios are a lower bound.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("SYMBOLIC_AI_THREADS", "1")  # before symbolic_ai.runtime reads it, in workers too

from symbolic_ai import batch  # noqa: E402
from symbolic_ai.batching import JOURNAL, TABLE  # noqa: E402
from symbolic_ai.data import data_root  # noqa: E402

SOURCES = ("nottingham/MIDI", "emopia", "pop909")
ENGINES = {"process1": ("process", 1), "process1core": ("process", 1), "process2": ("process", 2), "ray2": ("ray", 2)}


def corpus(root: Path, n: int) -> list[Path]:
    files = sorted(f for s in SOURCES for f in (root / s).rglob("*") if f.suffix.lower() in (".mid", ".midi"))
    if not files:
        sys.exit(f"no MIDI files under {root}/{{{','.join(SOURCES)}}}: pass --data-root")
    picks = sorted({round(i * (len(files) - 1) / max(n - 1, 1)) for i in range(min(n, len(files)))})
    return [files[i] for i in picks]  # evenly over the whole sorted list, so every source is in


def run(task: str, files: list[Path], engine: str, jobs: int) -> dict[str, object]:
    cpu0 = _cpu()
    with tempfile.TemporaryDirectory(prefix="sai-bench-") as tmp:
        t0 = time.perf_counter()
        records, first = [], 0.0
        for rec in batch(task, files, out_dir=tmp, jobs=jobs, engine=engine, format="none"):
            first = first or time.perf_counter() - t0
            records.append(rec)
        seconds = time.perf_counter() - t0
        ok = sum(r.ok for r in records)
        cpu = [b - a for a, b in zip(cpu0, _cpu())]
        sizes = {name: (Path(tmp) / name).stat().st_size for name in (JOURNAL, TABLE) if (Path(tmp) / name).exists()}
    return {"task": task, "engine": engine, "jobs": jobs, "files": len(files), "ok": ok, "failed": len(records) - ok,
            "seconds": round(seconds, 2), "files_per_s": round(len(files) / seconds, 2),
            "first_record_s": round(first, 2),  # worker start + model load + the first file
            "steady_files_per_s": round((len(files) - 1) / max(seconds - first, 1e-9), 2),
            "manifest_bytes": sizes.get(TABLE), "journal_bytes": sizes.get(JOURNAL),
            # CPU seconds of this process (the 1-process run, or the dispatcher) and of the worker
            # processes (the process engine's; Ray's actors are not this process's children)
            "parent_cpu_s": round(cpu[0], 2), "workers_cpu_s": round(cpu[1], 2), "load_avg": os.getloadavg()[0]}


@contextmanager
def one_core(on: bool) -> Iterator[None]:
    """numpy's BLAS limited to one thread in this process (threadpoolctl), as in each batch worker."""
    if not on:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


class _Echo:
    def __call__(self, batch: dict[str, object]) -> dict[str, object]:
        return batch


def start_ray_data() -> None:
    """A two-row dataset through a one-actor pool. Ray Data's first run starts its own detached
    actors (stats, autoscaling coordinator, actor-location tracker: ~3 CPU-s on this machine). On a
    cluster they outlive the job that started them, so like `ray.init` they belong to the cluster's
    start, not to a batch run; without this the first Ray row would pay them and the later ones not."""
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    ray.data.range(2).map_batches(_Echo, compute=ray.data.ActorPoolStrategy(size=1), batch_size=1).take_all()


def _cpu() -> tuple[float, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--tasks", default="key,chords,emotion")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--repeat", type=int, default=1, help="rounds over every task and engine; the summary takes "
                    "each configuration's median files/s (engines alternate within a round)")
    args = ap.parse_args()
    files = corpus(data_root(args.data_root), args.files)
    for f in files:  # every configuration reads the files from a warm disk cache (the first one ran cold)
        f.read_bytes()
    engines = [e for e in args.engines.split(",") if e]
    ray = None
    if any(ENGINES[e][0] == "ray" for e in engines):
        import ray

        t0 = time.perf_counter()
        from symbolic_ai.batching_ray import start_local

        start_local(ray, num_cpus=2)  # workers at this process's priority, as the process engine's
        t1 = time.perf_counter()
        start_ray_data()
        print(json.dumps({"ray_init_seconds": round(t1 - t0, 2), "ray_data_start_seconds": round(time.perf_counter() - t1, 2),
                          "ray": ray.__version__}), flush=True)
    rows = []
    try:
        for round_ in range(args.repeat):
            for task in args.tasks.split(","):
                for e in engines if round_ % 2 == 0 else engines[::-1]:  # neither engine always goes first
                    engine, jobs = ENGINES[e]
                    with one_core(e == "process1core"):
                        rows.append(run(task, files, engine, jobs))
                    rows[-1].update(engine=e, round=round_)
                    print(json.dumps(rows[-1]), flush=True)
    finally:
        if ray is not None:
            ray.shutdown()
    runs: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        runs.setdefault((str(r["task"]), str(r["engine"])), []).append(float(r["files_per_s"]))  # type: ignore[arg-type]
    fps = {k: statistics.median(v) for k, v in runs.items()}
    summary: dict[str, object] = {"files": len(files), "cpus": os.cpu_count(), "rounds": args.repeat,
                                  "load_avg": os.getloadavg()[0]}
    for task in args.tasks.split(","):
        one, two, ray2 = fps.get((task, "process1")), fps.get((task, "process2")), fps.get((task, "ray2"))
        core = fps.get((task, "process1core"))
        if one and two:
            summary[f"{task}_speedup"] = round(two / one, 2)
        if core and two:
            summary[f"{task}_speedup_over_one_core"] = round(two / core, 2)
        if two and ray2:
            summary[f"{task}_ray_vs_process"] = round(ray2 / two, 2)
    summary["targets"] = {"speedup": ">= 1.8", "ray_vs_process": ">= 0.8"}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
