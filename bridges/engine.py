"""The job engine shared by the OSC and HTTP adapters.

A job is one task run on one input: it gets an engine-wide id, waits in a bounded queue, and runs
in a worker process (`workers.py`): `workers` jobs run at once, one per worker, each worker with
its models loaded once when it starts. The event loop only queues jobs, moves them to and from
the workers and answers; cheap requests (ping, caps, hello, status) never leave it.

Events go to the job's listeners on the event loop: `progress` (0.0 when it starts, 0.5 when the
input is read and the task runs, unless the job was submitted with `notify_progress=False`), then
exactly one of `done` or `error` (codes from `SymbolicAIError.code`, plus the daemon's own in
`errors.py`). A job cancelled while it runs, or past `job_timeout_s`, is answered at once and its
worker is killed, so it burns no more CPU or memory; a fresh worker takes the slot. A job that
needs more memory than a worker may use is answered `too_large` and its worker replaced too.
A job's `load` (zero arguments, gives the Piece), `save` (takes the Result) and, for a task that
takes a recording (`registry.RECORDING_TASKS`: align, locate), `recording` (zero arguments, gives
the Audio or clip) run in the worker, so they must be picklable: module-level functions or
`functools.partial`s of them.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from symbolic_ai import registry
from symbolic_ai.piece import Piece
from symbolic_ai.registry import Result

from .config import Config
from .errors import BadRequest, Busy, DuplicateId
from .workers import Worker, WorkerDied

log = logging.getLogger("symbolic_ai.daemon")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "error", "cancelled"
FINAL = (DONE, FAILED, CANCELLED)
LARGE_JOB_NOTES = 5000  # jobs and job documents holding more notes are pickled or serialized off the event loop
Listener = Callable[["Job", str], None]


@dataclass(eq=False)
class Job:
    """One request. `load` and `save` run in a worker process (so they are pickled); the rest on the loop."""

    id: int
    task: str
    params: dict
    load: Callable[[], Piece]
    save: Callable[[Result], Any] | None = None
    client: str = "local"
    request_id: int | None = None
    keep_result: bool = True
    notify_progress: bool = True  # send a progress event when the input is read (pollers see it anyway)
    notes: int = 0                # input notes when known: big jobs are pickled off the event loop
    recording: Callable[[], Any] | None = None  # a recording task's recording loader
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
    worker_pid: int | None = None  # the worker process that runs (or ran) it
    listeners: list[Listener] = field(default_factory=list)
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
        """Start the workers (and, with `config.preload`, wait until their models are loaded)."""
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=self.config.max_queue)
        n = self.config.n_workers
        self.threads = max(1, (os.cpu_count() or 1) // n)  # model threads per worker: the cores shared out
        self.live: set[Worker] = set()
        self.running: dict[int, Worker] = {}
        first = await asyncio.gather(*(self._new_worker() for _ in range(n)))
        self.slots = [asyncio.create_task(self._slot(w), name=f"sai-slot-{i}") for i, w in enumerate(first)]
        self.accepting = True

    async def _new_worker(self) -> Worker:
        """A started, ready worker; retried (every second, logged) until one starts."""
        while True:
            worker = Worker(self.config, self.threads)
            self.live.add(worker)
            try:
                await worker.start()
                return worker
            except (OSError, WorkerDied) as exc:
                self.live.discard(worker)
                worker.kill()
                log.error("a worker process failed to start (%s); retrying in 1 s", exc)
                await asyncio.sleep(1.0)
            except BaseException:
                self.live.discard(worker)
                worker.kill()
                raise

    # -- requests ----------------------------------------------------------------------------
    def submit(self, task: str, params: dict, load: Callable[[], Piece], save: Callable[[Result], Any] | None = None,
               *, client: str = "local", request_id: int | None = None, listener: Listener | None = None,
               keep_result: bool = True, notify_progress: bool = True, notes: int = 0,
               recording: Callable[[], Any] | None = None) -> Job:
        """Validate and queue a job; raises (UnknownTaskError, ParameterError, BadRequest, Busy) before
        queueing. A task that takes a recording needs `recording`; any other task refuses one."""
        if not self.accepting:
            raise Busy("the daemon is shutting down and takes no new jobs")
        spec = registry.get(task)
        if spec.takes_recording and recording is None:
            raise BadRequest(f"{spec.name} needs a recording: give recording_path (an audio file) with the score")
        if recording is not None and not spec.takes_recording:
            raise BadRequest(f"{spec.name} takes no recording; only {', '.join(registry.RECORDING_TASKS)} do")
        values = spec.validate(params)
        if request_id is not None and (client, request_id) in self.by_request:
            raise DuplicateId(f"request id {request_id} is still in progress; use a new id or cancel it first")
        job = Job(next(self._ids), spec.name, values, load, save, client, request_id, keep_result, notify_progress,
                  notes, recording)
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
        """Cancel a queued or running job (its worker is killed); False if it had already finished."""
        if job.state in FINAL:
            return False
        worker = self.running.pop(job.id, None)
        if worker is not None:
            worker.kill()
        self._finish(job, CANCELLED, error=("cancelled", why))
        return True

    def stats(self) -> dict:
        running = sum(j.state == RUNNING for j in self.active.values())
        return {"queued": len(self.active) - running, "running": running, "workers": self.config.n_workers,
                "kept": len(self.finished), **{k: self.counts[k] for k in
                                               ("submitted", "done", "error", "cancelled", "timeout", "refused")}}

    # -- running -----------------------------------------------------------------------------
    async def _slot(self, worker: Worker) -> None:
        """One worker's loop: take a job, run it there; replace the worker whenever it has ended."""
        while True:
            job = await self.queue.get()
            try:
                if job.state == QUEUED:
                    if not worker.alive:  # ended while idle
                        worker = await self._replace(worker)
                    await self._run(job, worker)
            except Exception:  # a bug in the engine itself: keep the slot alive
                log.exception("job %d (%s) failed inside the engine", job.id, job.task)
                if job.state not in FINAL:
                    self._finish(job, FAILED, error=("internal", "the daemon failed running this job; see its log"))
            finally:
                self.queue.task_done()
            if not worker.alive:  # killed (timeout, cancel) or out of memory: a fresh, warm one before the next job
                worker = await self._replace(worker)

    async def _replace(self, worker: Worker) -> Worker:
        self.live.discard(worker)
        self.counts["replaced"] += 1
        return await self._new_worker()

    async def _run(self, job: Job, worker: Worker) -> None:
        job.state, job.started, job.worker_pid = RUNNING, time.monotonic(), worker.pid
        self.running[job.id] = worker
        self._notify(job, "progress")
        run = asyncio.ensure_future(worker.run(job.task, job.params, job.load, job.save, lambda: self._loaded(job),
                                               big=job.notes > LARGE_JOB_NOTES, recording=job.recording))
        finished = asyncio.ensure_future(job.done_event.wait())  # set by cancel
        try:
            await asyncio.wait({run, finished}, timeout=self.config.job_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            finished.cancel()
            self.running.pop(job.id, None)
        if job.state in FINAL:  # cancelled meanwhile: cancel() killed the worker
            run.cancel()
            return
        if not run.done():
            run.cancel()
            worker.kill()
            self.counts["timeout"] += 1
            self._finish(job, FAILED, error=("timeout", f"{job.task} took longer than the daemon's "
                                             f"{self.config.job_timeout_s:g} s job limit and was stopped"))
            return
        try:
            reply = run.result()
        except WorkerDied:
            why = await worker.death()
            log.error("job %d (%s): %s", job.id, job.task, why)
            oom = "SIGKILL" in why  # not killed by the daemon: the kernel's out-of-memory killer
            self._finish(job, FAILED, error=("too_large" if oom else "internal",
                                             f"{job.task}: {why} while running it{' (out of memory?)' if oom else ''}"))
            return
        except Exception as exc:  # e.g. a load or save that cannot be pickled (a bug of the caller)
            log.exception("job %d (%s) could not be sent to a worker", job.id, job.task)
            self._finish(job, FAILED, error=("internal", f"{job.task} failed: {type(exc).__name__}: {exc}"))
            return
        if reply[0] == "done":
            job.input_piece, job.output = reply[1], reply[3]
            self._finish(job, DONE, result=reply[2])
            return
        _, code, message, trace = reply
        if code == "too_large":  # the worker exits after running out of memory: replace it now
            worker.kill()
        if trace:
            log.error("job %d (%s) raised in worker %s:\n%s", job.id, job.task, worker.pid, trace.rstrip())
        self._finish(job, FAILED, error=(code, message))

    def _loaded(self, job: Job) -> None:
        """The worker has read the input and runs the task."""
        if job.notify_progress:
            self._set_progress(job, 0.5)
        elif job.state == RUNNING:  # pollers still see it
            job.progress = 0.5

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
        job.load = job.save = job.recording = None  # type: ignore[assignment]  (free what the closures hold)
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
        """Take no new jobs, let queued and running ones finish (up to the timeout), cancel the rest
        (killing their workers), then stop every worker. Returns how many jobs were cancelled because
        time ran out. Bounded: the timeout plus `workers.STOP_GRACE_S`."""
        self.accepting = False
        timeout_s = self.config.drain_timeout_s if timeout_s is None else timeout_s
        if hasattr(self, "queue"):
            try:
                await asyncio.wait_for(self.queue.join(), timeout_s)
            except asyncio.TimeoutError:
                pass
        late = [j for j in self.active.values() if j.state not in FINAL]
        for job in late:
            self.cancel(job, "the daemon stopped before this job finished")
        slots = getattr(self, "slots", [])
        for slot in slots:
            slot.cancel()
        await asyncio.gather(*slots, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in getattr(self, "live", ())), return_exceptions=True)
        return len(late)


def notes_held(job: Job) -> int:
    return sum(len(p.notes) for p in (job.input_piece, job.result.piece if job.result else None) if p is not None)
