"""A task over many files: `symbolic_ai.batch(task, inputs, jobs=N)` and `symbolic-ai batch`.

Inputs are files, directories (searched recursively for the readable suffixes) or list files: a
`.txt` with one path a line, or a previous run's manifest (`.jsonl` / `.parquet`, its `input`
column); relative paths in a list are relative to the list's folder. Work is spread over `jobs`
processes (`engine="process"`, the models loaded once per process) or a Ray cluster
(`engine="ray"`, `symbolic_ai.batching_ray`). A file that fails is recorded, never fatal.

With an output directory, each finished file appends one line to `OUT/manifest.jsonl` at once
(so a killed run can `resume`), and at the end `OUT/manifest.parquet` holds the same rows when
pyarrow is installed. A row: input, output, status ("ok" or "error"), error, seconds, and the task's
scalar results (key, confidence, quadrant, …) as columns. Paths in it are absolute.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError, ParameterError, SymbolicAIError
from .io import output_stem

FORMATS = {"json": ".json", "mid": ".mid", "musicxml": ".musicxml", "none": ""}
ENGINES = ("process", "ray")
JOURNAL = "manifest.jsonl"
TABLE = "manifest.parquet"
BASE_COLUMNS = ("input", "output", "status", "error", "seconds")
LIST_SUFFIXES = (".txt", ".jsonl", ".parquet")


@dataclass(frozen=True)
class Settings:
    """What a worker needs to run the task on one file (picklable, sent once per process)."""

    task: str
    params: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    model: str | None = None
    tune: int | None = None


@dataclass(frozen=True)
class Job:
    input: str   # absolute path
    output: str  # absolute path, or "" for no output file


@dataclass(frozen=True)
class Record:
    """One file's outcome: a manifest row; `data` is the task's whole JSON-ready result (ok only)."""

    input: str
    output: str
    status: str  # "ok" | "error"
    error: str = ""
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def row(self) -> dict[str, Any]:
        """The manifest row: the base columns, then the result's scalars (`result_<name>` if a name clashes)."""
        out: dict[str, Any] = {"input": self.input, "output": self.output, "status": self.status,
                               "error": self.error, "seconds": round(self.seconds, 4)}
        for k, v in self.data.items():
            if isinstance(v, (str, int, float, bool)) or v is None:
                out[f"result_{k}" if k in BASE_COLUMNS else k] = v
        return out


def batch(task: str, inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *,
          out_dir: str | os.PathLike[str] | None = None, jobs: int = 1, format: str = "json",
          resume: bool = False, engine: str = "process", device: str = "cpu", model: str | None = None,
          tune: int | None = None, progress: bool = False, **params: Any) -> Iterator[Record]:
    """Run `task` on every input file and yield a `Record` per file as it finishes (in no set order).

    `out_dir` receives one output per file (`format`: json, mid, musicxml, or none) and the
    manifest; `resume` skips the files the manifest there records as done. `jobs` processes (or
    Ray actors) run at once. Parameters are checked before any file is read."""
    from .registry import get

    spec = get(task)
    settings = Settings(task, spec.validate(params), device, model, tune)
    if format not in FORMATS:
        raise ParameterError(f"batch: format must be one of {', '.join(FORMATS)}, got {format!r}")
    if engine not in ENGINES:
        raise ParameterError(f"batch: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "ray":
        from .errors import require

        require("ray", "ray")  # before any output: a missing engine is one line
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise ParameterError(f"batch: jobs must be a whole number >= 1 (0: one per CPU), got {jobs!r}")
    out = _prepare_out_dir(Path(out_dir)) if out_dir is not None else None
    if resume and out is None:
        raise ParameterError("batch: resume needs an output directory (its manifest says what is done)")
    files, notices = expand_inputs([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs, exclude=out)
    for line in notices:
        print(f"symbolic-ai batch: {line}", file=sys.stderr)
    planned = plan(files, task, out if format != "none" else None, FORMATS[format])
    done = _done(out) if resume and out is not None else set()
    todo = [j for j in planned if j.input not in done]
    return _drive(settings, todo, len(planned) - len(todo), out, jobs, engine, progress, resume)


def _drive(settings: Settings, todo: list[Job], skipped: int, out: Path | None, jobs: int, engine: str,
           progress: bool, resume: bool) -> Iterator[Record]:
    """The generator behind `batch`: runs the engine, journals each record, writes the table at the end."""
    n = jobs or (os.cpu_count() or 1)
    journal = open(out / JOURNAL, "a" if resume else "w", encoding="utf-8") if out is not None else None  # noqa: SIM115
    bar = _progress_bar(len(todo) + skipped, skipped, settings.task, progress)
    failed = 0
    try:
        if engine == "ray":
            from .batching_ray import run_ray
            records = run_ray(settings, todo, jobs)
        else:
            records = run_processes(settings, todo, n)
        for rec in records:
            if journal is not None:
                journal.write(json.dumps(rec.row(), allow_nan=False, default=str) + "\n")
                journal.flush()
            if bar is not None:
                failed += not rec.ok
                bar.update(1)
                if failed:
                    bar.set_postfix(failed=failed, refresh=False)
                if not rec.ok:
                    bar.write(f"symbolic-ai batch: {rec.error}", file=sys.stderr)
            yield rec
    finally:
        if bar is not None:
            bar.close()
        if journal is not None:
            journal.close()
            assert out is not None
            write_table(out)


def run_processes(settings: Settings, todo: Sequence[Job], n: int) -> Iterator[Record]:
    """Records of `todo`, as they finish, from `n` worker processes (in this process when n == 1).
    A worker that dies is recorded against the files it held, and a new pool takes the rest."""
    if n <= 1 or len(todo) <= 1:
        for job in todo:
            yield process_one(settings, job)
        return
    import multiprocessing

    queue = list(reversed(todo))
    while queue:
        pending: dict[Future[Record], Job] = {}
        pool = ProcessPoolExecutor(min(n, len(queue)), mp_context=multiprocessing.get_context("spawn"),
                                   initializer=init_worker, initargs=(settings, 1))
        finished_here = 0
        try:
            with one_thread_env():  # the workers start at the first submits, with this environment
                _fill(pool, pending, queue, settings, 4 * n)
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    record = fut.result()
                    del pending[fut]
                    finished_here += 1
                    yield record
                _fill(pool, pending, queue, settings, 4 * n)
        except BrokenProcessPool:
            if not finished_here:  # no worker ever finished a file: they could not start
                raise SymbolicAIError(
                    "batch: the worker processes could not start; a script that runs a batch with jobs > 1 "
                    "must do so under `if __name__ == \"__main__\":` (they import the script), "
                    "or use jobs=1") from None
            for job in pending.values():
                yield Record(job.input, "", "error", f"{job.input}: a worker process died while this file was "
                                                     f"running (it, or a file beside it, crashed the process); "
                                                     f"rerun with resume to retry")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _fill(pool: ProcessPoolExecutor, pending: dict[Future[Record], Job], queue: list[Job], settings: Settings,
          depth: int) -> None:
    """Submit jobs from the end of `queue` until `depth` are pending (a few per worker, so none waits)."""
    while queue and len(pending) < depth:
        job = queue.pop()
        pending[pool.submit(process_one, settings, job)] = job


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextmanager
def one_thread_env() -> Iterator[None]:
    """While worker processes start: one thread for numpy's BLAS (and OpenMP) in each, unless the
    user set these variables. A process is one core; BLAS threads of their own would spin against
    the other workers' (with 2 workers on 2 cores they cost a fifth of the throughput)."""
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    os.environ.update({k: "1" for k, v in saved.items() if v is None})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


def init_worker(settings: Settings, threads: int) -> None:
    """Once per worker process: `threads` onnxruntime threads, and the task's model loaded."""
    from . import runtime
    from .registry import Models, get

    runtime.set_threads(threads)
    spec = get(settings.task)
    if spec.model:
        try:
            Models(settings.device).load(settings.model or spec.model)
        except SymbolicAIError:
            pass  # reported per file by process_one


def process_one(settings: Settings, job: Job) -> Record:
    """Load, run, save one file; any failure becomes an error Record (never raised)."""
    from . import io
    from .registry import run

    t0 = time.perf_counter()
    try:
        tune = settings.tune if job.input.lower().endswith(".abc") else None  # other files: read as usual
        result = run(settings.task, io.load(job.input, tune=tune), device=settings.device,
                     model=settings.model, **settings.params)
        if job.output:
            io.save_result(result, job.output)
        data: dict[str, Any] = result.to_dict()["result"]
        return Record(job.input, job.output, "ok", "", time.perf_counter() - t0, data)
    except SymbolicAIError as exc:
        msg = str(exc) if job.input in str(exc) else f"{job.input}: {exc}"
    except Exception as exc:  # a bug or an unexpected file: recorded, and the batch goes on
        msg = f"{job.input}: internal error: {type(exc).__name__}: {exc}"
    return Record(job.input, "", "error", msg.splitlines()[0] if msg else "error", time.perf_counter() - t0)


def expand_inputs(inputs: Iterable[str | os.PathLike[str]], exclude: Path | None = None) -> tuple[list[Path], list[str]]:
    """The files named by `inputs` (absolute, directories expanded, lists read, duplicates once) and
    notices for the user (files of other types skipped in a directory)."""
    from .io import READ_SUFFIXES

    files: list[Path] = []
    notices: list[str] = []
    for item in inputs:
        p = Path(item).absolute()
        if p.is_dir():
            skipped: dict[str, int] = {}
            for f in sorted(p.rglob("*")):
                if not f.is_file() or any(part.startswith(".") for part in f.relative_to(p).parts) \
                        or (exclude is not None and f.is_relative_to(exclude)):
                    continue
                if f.suffix.lower() in READ_SUFFIXES:
                    files.append(f)
                else:
                    skipped[f.suffix.lower() or "(no suffix)"] = skipped.get(f.suffix.lower() or "(no suffix)", 0) + 1
            if skipped:
                kinds = ", ".join(f"{s} ×{c}" for s, c in sorted(skipped.items(), key=lambda x: -x[1]))
                notices.append(f"{p}: skipped {sum(skipped.values())} file(s) of other types ({kinds})")
        elif p.suffix.lower() in LIST_SUFFIXES and p.is_file():
            files.extend(read_list(p))
        else:
            files.append(p)  # a missing or unreadable file is recorded as that file's error
    return list(dict.fromkeys(files)), notices


def read_list(path: Path) -> list[Path]:
    """The files a list names: a .txt (one path a line, `#` comments) or a manifest's `input` column."""
    base = path.parent
    if path.suffix.lower() == ".txt":
        names = [ln.strip() for ln in _read_text(path).splitlines()]
        names = [n for n in names if n and not n.startswith("#")]
    else:
        rows = read_manifest(path)
        names = [str(r["input"]) for r in rows if r.get("input")]
    return [(base / n).absolute() if not Path(n).is_absolute() else Path(n) for n in names]


def plan(files: Sequence[Path], task: str, out: Path | None, suffix: str) -> list[Job]:
    """One Job per file; outputs are `OUT/<stem>.<task><suffix>`, `<stem>_<ext>` when two inputs share
    a stem, and `-2`, `-3`… after that (the order of `files` decides, so a resumed run plans the same)."""
    if out is None:
        return [Job(str(f), "") for f in files]
    stems: dict[str, int] = {}
    for f in files:
        stems[f.stem] = stems.get(f.stem, 0) + 1
    used: set[str] = set()
    jobs = []
    for f in files:
        stem = output_stem(f, {s for s, n in stems.items() if n > 1})
        name, k = f"{stem}.{task}{suffix}", 1
        while name in used:
            k += 1
            name = f"{stem}-{k}.{task}{suffix}"
        used.add(name)
        jobs.append(Job(str(f), str(out / name)))
    return jobs


def read_manifest(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a manifest (.jsonl, or .parquet with pyarrow); InputError on an unreadable one."""
    p = Path(path)
    if p.suffix.lower() == ".parquet":
        from .errors import require

        pq = require("pyarrow.parquet", "batch")
        try:
            rows: list[dict[str, Any]] = pq.read_table(p).to_pylist()
        except Exception as exc:  # pyarrow raises its own types
            raise InputError(f"{p}: not a readable Parquet manifest ({exc})") from None
        return rows
    lines = _read_text(p).splitlines()
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines):
                continue  # a last line cut short by a kill
            raise InputError(f"{p}: line {i} is not JSON; a manifest has one JSON object a line") from None
        if not isinstance(row, dict):
            raise InputError(f"{p}: line {i} is not a JSON object")
        rows.append(row)
    return rows


def write_table(out: Path) -> Path | None:
    """`OUT/manifest.parquet` from the journal (the last row per input), when pyarrow is installed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    latest = {r["input"]: r for r in read_manifest(out / JOURNAL)}
    rows = list(latest.values())
    columns = list(dict.fromkeys([*BASE_COLUMNS, *(k for r in rows for k in r)]))
    data = {c: [r.get(c) for r in rows] for c in columns}
    arrays = {}
    for c, values in data.items():
        try:
            arrays[c] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in one column: as text
            arrays[c] = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    import io as _io

    buf = _io.BytesIO()
    pq.write_table(pa.table(arrays), buf)
    from .io import write_atomic

    return write_atomic(out / TABLE, buf.getvalue())


def _done(out: Path) -> set[str]:
    """Inputs the manifest in `out` records as done, whose output (if any) is still there."""
    source = out / JOURNAL if (out / JOURNAL).exists() else out / TABLE
    if not source.exists():
        return set()
    latest = {r.get("input"): r for r in read_manifest(source)}
    return {str(i) for i, r in latest.items()
            if r.get("status") == "ok" and (not r.get("output") or Path(str(r["output"])).exists())}


def _prepare_out_dir(out: Path) -> Path:
    out = out.absolute()
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; the batch output must be a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise InputError(f"{out}: the output directory cannot be written ({exc.strerror or exc})") from None
    return out


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as a list of files ({exc})") from None


def _progress_bar(total: int, initial: int, task: str, show: bool) -> Any:
    """A tqdm bar on stderr (files done, rate, time left), or None when not shown."""
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="file", desc=task, file=sys.stderr, dynamic_ncols=True)
