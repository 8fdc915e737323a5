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

BATCH_SIZE = 8  # files per map_batches call: small, so that rows come back (and the bar moves) steadily


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
        blocks = max(1, -(-len(todo) // BATCH_SIZE))  # one batch a block: rows stream back evenly
        ds = data.from_items([{"input": j.input, "output": j.output} for j in todo], override_num_blocks=blocks)
        results = ds.map_batches(_Worker, fn_constructor_args=(settings,), batch_size=BATCH_SIZE,
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
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", configure_logging=True)
    except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError… by version
        raise SymbolicAIError(f"cannot reach {_where(address)} ({_reason(exc)}); start one with `ray start --head`, "
                              f"or unset RAY_ADDRESS to start a local instance") from None
    return not address


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
