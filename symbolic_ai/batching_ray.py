"""The Ray engine of `symbolic_ai.batch` (`engine="ray"`, `symbolic-ai batch --engine ray`).

Ray Data reads the file list (`ray.data.from_items`) and `map_batches` runs the task in a pool of
actors, each loading the model once (`batching.init_worker`) and running the same per-file
function as the process engine (`batching.process_one`). Outputs are written by the actors, so
the output directory must be a path every node sees (a shared file system); the manifest is
written by the driver from the rows that come back. It connects to `RAY_ADDRESS` when set (or to
a Ray instance this process already started), else starts a local instance and stops it after.
"""
from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from .batching import Job, Record, Settings, init_worker, process_one
from .errors import SymbolicAIError, require

MIN_BATCH, MAX_BATCH = 8, 64  # files per map_batches call
CALLS_PER_ACTOR = 8  # about this many calls per actor: few enough that Ray Data's own cost per call stays small


def batch_size(files: int, actors: int) -> int:
    """Files per `map_batches` call: about CALLS_PER_ACTOR calls per actor, between MIN_BATCH and MAX_BATCH.

    Each call costs Ray Data ~10–20 ms of driver and actor work besides the files (Arrow blocks,
    object store, stats): with 8 files a call that was a fifth of key's time on two cores. Larger
    calls still leave 8 per actor, so the rows (and the progress bar) keep coming back and the last
    call on one actor does not keep the others waiting long. A few files still go to every actor
    (5 files, 2 actors: calls of 3 and 2), as a short batch of a slow task needs it most."""
    actors = max(actors, 1)
    size = min(MAX_BATCH, max(MIN_BATCH, -(-files // (actors * CALLS_PER_ACTOR))))
    return max(1, min(size, -(-files // actors)))


class _Worker:
    """One Ray actor: the task's model loaded once, then one batch of files per call."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        init_worker(settings, 1)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        records = [process_one(self.settings, Job(str(i), str(o))) for i, o in zip(batch["input"], batch["output"])]
        return {"input": [r.input for r in records], "output": [r.output for r in records],
                "status": [r.status for r in records], "error": [r.error for r in records],
                "seconds": [r.seconds for r in records],
                "data": [json.dumps(r.data, allow_nan=False, default=str) for r in records]}


def run_ray(settings: Settings, todo: Sequence[Job], jobs: int = 0) -> Iterator[Record]:
    """Records of `todo` as Ray returns them; `jobs` actors (0: one per CPU of the cluster)."""
    if not todo:
        return
    ray = require("ray", "ray")
    started = connect(ray)
    try:
        data = require("ray.data", "ray")
        data.DataContext.get_current().enable_progress_bars = False  # the batch has its own bar
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        actors = jobs or max(1, int(ray.cluster_resources().get("CPU", 1)))
        size = batch_size(len(todo), actors)
        blocks = max(1, -(-len(todo) // size))  # one batch a block: rows stream back evenly
        ds = data.from_items([{"input": j.input, "output": j.output} for j in todo], override_num_blocks=blocks)
        results = ds.map_batches(_Worker, fn_constructor_args=(settings,), batch_size=size,
                                 compute=data.ActorPoolStrategy(size=actors), num_cpus=1,
                                 batch_format="numpy")
        for row in results.iter_rows():
            yield Record(str(row["input"]), str(row["output"]), str(row["status"]), str(row["error"]),
                         float(row["seconds"]), json.loads(str(row["data"])))
    finally:
        if started:
            ray.shutdown()


def connect(ray: Any) -> bool:
    """Join the Ray instance to use; True if this call started a local one (to stop afterwards)."""
    if ray.is_initialized():
        return False
    address = os.environ.get("RAY_ADDRESS", "")
    if address:
        _probe(address)  # ray.init waits minutes for an address where nothing answers
    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR", configure_logging=True)
        else:
            start_local(ray)
    except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError… by version
        raise SymbolicAIError(f"cannot reach {_where(address)} ({_reason(exc)}); start one with `ray start --head`, "
                              f"or unset RAY_ADDRESS to start a local instance") from None
    return not address


def start_local(ray: Any, num_cpus: int | None = None) -> None:
    """Start a local Ray instance whose workers run at this process's priority.

    Ray's default lowers every worker to nice 15 (`worker_niceness`), so on a machine with any
    other load — Ray's own driver and daemons included — the actors doing the work wait for the
    CPU while the process engine's workers, at the caller's priority, do not (emotion, 500 files,
    2 CPUs: the actors got 14 CPU-s in 24 s of files). A cluster keeps its own setting
    (`ray start --system-config='{"worker_niceness": 0}'` to change it)."""
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             configure_logging=True, _system_config={"worker_niceness": 0})


def _probe(address: str, timeout: float = 5.0) -> None:
    """A TCP connection to RAY_ADDRESS's host:port (as `ray start --head` prints it, or ray://host:port);
    'auto' and 'local' are left to Ray."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise SymbolicAIError(f"cannot reach {_where(address)} ({_reason(exc)}); is the head node running "
                              f"(`ray start --head`) and the address right? Unset RAY_ADDRESS to start a "
                              f"local instance") from None


def _where(address: str) -> str:
    return f"the Ray cluster at RAY_ADDRESS={address}" if address else "a local Ray instance"


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
