"""The job engine shared by the OSC and HTTP adapters.

A job is one task run on one input: it gets an engine-wide id, waits in a bounded queue, and runs
in a worker thread (task code is CPU-bound numpy/onnxruntime, which releases the GIL in its
kernels), so the event loop keeps answering while models work. `workers` jobs run at once.

Events go to the job's listeners on the event loop: `progress` (0.0 when it starts, 0.5 when the
input is read and the task runs, unless the job was submitted with `notify_progress=False`), then exactly one
of `done` or `error` (codes from
`SymbolicAIError.code`, plus the daemon's own in `errors.py`). Cancel and timeout answer at once;
Python cannot stop a thread, so a task already running finishes in the background, its result is
dropped and its output file is not written.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from symbolic_ai import registry
from symbolic_ai.errors import SymbolicAIError
from symbolic_ai.piece import Piece
from symbolic_ai.registry import Result

from .config import Config
from .errors import Busy, DuplicateId, error_code

log = logging.getLogger("symbolic_ai.daemon")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "error", "cancelled"
FINAL = (DONE, FAILED, CANCELLED)
Listener = Callable[["Job", str], None]


@dataclass(eq=False)
class Job:
    """One request. `load` and `save` run in the worker thread; everything else on the loop."""

    id: int
    task: str
    params: dict
    load: Callable[[], Piece]
    save: Callable[[Result], Any] | None = None
    client: str = "local"
    request_id: int | None = None
    keep_result: bool = True
    notify_progress: bool = True  # wake the event loop mid-run for a progress event (costs a GIL hand-off)
    state: str = QUEUED
    progress: float = 0.0
    input_piece: Piece | None = None
    result: Result | None = None
    data: dict | None = None
    output: str | None = None
    error: tuple[str, str] | None = None
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    listeners: list[Listener] = field(default_factory=list)
    cancel_flag: threading.Event = field(default_factory=threading.Event)
    done_event: asyncio.Event = field(default_factory=asyncio.Event)

    def status(self) -> dict:
        """A JSON-ready snapshot (the result piece is added by the HTTP adapter on request)."""
        ms = lambda a, b: None if a is None or b is None else round((b - a) * 1000, 3)  # noqa: E731
        return {"id": self.id, "task": self.task, "state": self.state, "progress": self.progress,
                "client": self.client, "request_id": self.request_id, "params": self.params,
                "result": self.data, "output": self.output,
                "error": None if self.error is None else {"code": self.error[0], "message": self.error[1]},
                "timing_ms": {"queued": ms(self.created, self.started or self.finished),
                              "run": ms(self.started, self.finished)}}


class Engine:
    """Jobs by id, a bounded queue, `config.n_workers` workers, cancel, timeouts and draining."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.active: dict[int, Job] = {}
        self.finished: OrderedDict[int, Job] = OrderedDict()
        self.by_request: dict[tuple[str, int], Job] = {}
        self.counts: Counter[str] = Counter()
        self.accepting = False
        self._ids = itertools.count(1)
        self._kept_notes = 0

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=self.config.max_queue)
        n = self.config.n_workers
        # spare threads: a timed-out or cancelled task keeps its thread until it returns
        self.executor = ThreadPoolExecutor(max_workers=2 * n, thread_name_prefix="sai-job")
        if self.config.preload:
            await self.loop.run_in_executor(self.executor, self.preload)
        self.workers = [asyncio.create_task(self._worker(), name=f"sai-worker-{i}") for i in range(n)]
        self.accepting = True

    def preload(self) -> list[str]:
        """Load every task's model once so the first request is as fast as the rest."""
        loaded = []
        from symbolic_ai.runtime import load_model
        for spec in registry.TASKS.values():
            if spec.model:
                try:
                    load_model(spec.model, device=self.config.device)
                    loaded.append(spec.model)
                except SymbolicAIError as exc:
                    log.warning("model %s for task %s not loaded: %s", spec.model, spec.name, exc)
        return loaded

    # -- requests ----------------------------------------------------------------------------
    def submit(self, task: str, params: dict, load: Callable[[], Piece], save: Callable[[Result], Any] | None = None,
               *, client: str = "local", request_id: int | None = None, listener: Listener | None = None,
               keep_result: bool = True, notify_progress: bool = True) -> Job:
        """Validate and queue a job; raises (UnknownTaskError, ParameterError, Busy) before queueing."""
        if not self.accepting:
            raise Busy("the daemon is shutting down and takes no new jobs")
        spec = registry.get(task)
        values = spec.validate(params)
        if request_id is not None and (client, request_id) in self.by_request:
            raise DuplicateId(f"request id {request_id} is still in progress; use a new id or cancel it first")
        job = Job(next(self._ids), spec.name, values, load, save, client, request_id, keep_result, notify_progress)
        if listener is not None:
            job.listeners.append(listener)
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            self.counts["refused"] += 1
            raise Busy(f"{self.queue.qsize()} jobs are waiting, the daemon's limit (--max-queue); "
                       f"retry when some are done") from None
        self.active[job.id] = job
        if request_id is not None:
            self.by_request[(client, request_id)] = job
        self.counts["submitted"] += 1
        return job

    def get(self, job_id: int) -> Job | None:
        return self.active.get(job_id) or self.finished.get(job_id)

    def find(self, client: str, request_id: int) -> Job | None:
        return self.by_request.get((client, request_id))

    def cancel(self, job: Job, why: str = "cancelled by the client") -> bool:
        """Cancel a queued or running job; False if it had already finished."""
        if job.state in FINAL:
            return False
        job.cancel_flag.set()
        self._finish(job, CANCELLED, error=("cancelled", why))
        return True

    def stats(self) -> dict:
        running = sum(j.state == RUNNING for j in self.active.values())
        return {"queued": len(self.active) - running, "running": running, "workers": self.config.n_workers,
                "kept": len(self.finished), **{k: self.counts[k] for k in
                                               ("submitted", "done", "error", "cancelled", "timeout", "refused")}}

    # -- running -----------------------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                if job.state == QUEUED:
                    await self._run(job)
            except Exception:  # a bug in the engine itself: keep the worker alive
                log.exception("job %d (%s) failed inside the engine", job.id, job.task)
                if job.state not in FINAL:
                    self._finish(job, FAILED, error=("internal", "the daemon failed running this job; see its log"))
            finally:
                self.queue.task_done()

    async def _run(self, job: Job) -> None:
        job.state, job.started = RUNNING, time.monotonic()
        self._notify(job, "progress")
        fut = self.loop.run_in_executor(self.executor, self._execute, job)
        finished = asyncio.ensure_future(job.done_event.wait())  # set by cancel
        try:
            await asyncio.wait({fut, finished}, timeout=self.config.job_timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            finished.cancel()
        if job.state in FINAL:  # cancelled meanwhile: the thread's result is dropped
            fut.add_done_callback(_swallow)
            return
        if not fut.done():
            job.cancel_flag.set()
            fut.add_done_callback(_swallow)
            self.counts["timeout"] += 1
            self._finish(job, FAILED, error=("timeout", f"{job.task} took longer than the daemon's "
                                             f"{self.config.job_timeout_s:g} s job limit"))
            return
        try:
            piece, result, output = fut.result()
        except SymbolicAIError as exc:
            self._finish(job, FAILED, error=(error_code(exc), str(exc)))
        except Exception as exc:
            log.exception("job %d (%s) raised", job.id, job.task)
            self._finish(job, FAILED, error=("internal", f"{job.task} failed: {type(exc).__name__}: {exc}"))
        else:
            job.input_piece, job.output = piece, output
            self._finish(job, DONE, result=result)

    def _execute(self, job: Job) -> tuple[Piece, Result, str | None] | None:
        """In a worker thread: read the input, run the task, write the output unless cancelled."""
        if job.cancel_flag.is_set():
            return None
        piece = job.load()
        if job.notify_progress:
            self.loop.call_soon_threadsafe(self._set_progress, job, 0.5)
        else:  # pollers still see it
            job.progress = 0.5
        result = registry.run(job.task, piece, device=self.config.device, **job.params)
        if job.cancel_flag.is_set() or job.save is None:
            return piece, result, None
        return piece, result, str(job.save(result))

    def _set_progress(self, job: Job, fraction: float) -> None:
        if job.state == RUNNING and fraction > job.progress:
            job.progress = fraction
            self._notify(job, "progress")

    def _finish(self, job: Job, state: str, result: Result | None = None,
                error: tuple[str, str] | None = None) -> None:
        job.state, job.finished, job.error = state, time.monotonic(), error
        if result is not None:
            job.result, job.data, job.progress = result, result.data, 1.0
        self.counts["done" if state == DONE else "cancelled" if state == CANCELLED else "error"] += 1
        self.active.pop(job.id, None)
        if job.request_id is not None and self.by_request.get((job.client, job.request_id)) is job:
            del self.by_request[(job.client, job.request_id)]
        job.done_event.set()
        self._notify(job, "done" if state == DONE else "error")
        if not job.keep_result:
            job.result = job.input_piece = None
        job.listeners.clear()
        job.load = job.save = None  # type: ignore[assignment]  (free what the closures hold)
        self._keep(job)

    def _keep(self, job: Job) -> None:
        """Remember finished jobs for polling, bounded by count and by the notes they hold."""
        self.finished[job.id] = job
        self._kept_notes += notes_held(job)
        while self.finished and (len(self.finished) > self.config.keep_finished
                                 or self._kept_notes > 20 * self.config.max_notes):
            _, old = self.finished.popitem(last=False)
            self._kept_notes -= notes_held(old)

    def _notify(self, job: Job, event: str) -> None:
        for listener in list(job.listeners):
            try:
                listener(job, event)
            except Exception:
                log.exception("a listener of job %d failed on %s", job.id, event)

    # -- stopping ----------------------------------------------------------------------------
    async def drain(self, timeout_s: float | None = None) -> int:
        """Take no new jobs, let queued and running ones finish (up to the timeout), cancel the rest.

        Returns how many jobs were cancelled because time ran out."""
        self.accepting = False
        timeout_s = self.config.drain_timeout_s if timeout_s is None else timeout_s
        try:
            await asyncio.wait_for(self.queue.join(), timeout_s)
        except asyncio.TimeoutError:
            pass
        late = [j for j in self.active.values() if j.state not in FINAL]
        for job in late:
            self.cancel(job, "the daemon stopped before this job finished")
        for w in getattr(self, "workers", []):
            w.cancel()
        if hasattr(self, "executor"):
            self.executor.shutdown(wait=False, cancel_futures=True)
        return len(late)


def notes_held(job: Job) -> int:
    return sum(len(p.notes) for p in (job.input_piece, job.result.piece if job.result else None) if p is not None)


def _swallow(fut: asyncio.Future) -> None:
    """Retrieve the exception of an abandoned future so asyncio does not log it as unhandled."""
    if not fut.cancelled():
        fut.exception()
