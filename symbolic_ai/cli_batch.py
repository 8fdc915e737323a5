"""`symbolic-ai batch TASK INPUT... -o DIR`: a task over files, folders or lists (`symbolic_ai.batching`).

A progress bar shows files done, rate and time left; a file that fails prints one line and is
recorded in DIR/manifest.jsonl (and .parquet); the exit code is 2 when any file failed.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .registry import TASKS


def add_batch_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `batch` with one sub-command per task (its parameters as flags, as `run` has)."""
    from .batching import ENGINES, FORMATS
    from .cli import add_task_params

    p = sub.add_parser("batch", help="run a task over many files, folders or file lists, in parallel "
                                     "(see docs/batch.md)")
    tasks = p.add_subparsers(dest="task", metavar="TASK", parser_class=type(p))
    tasks.required = True
    for spec in TASKS.values():
        t = tasks.add_parser(spec.name, help=spec.summary, description=spec.doc,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        t.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="music files, folders (searched recursively), or lists: .txt (a path a line), "
                            "a manifest (.jsonl/.parquet)")
        t.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (outputs and manifest)")
        t.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                       help="processes (or Ray actors) at once; 0 = one per CPU (default 1)")
        t.add_argument("--format", choices=list(FORMATS), default="json",
                       help="output per file: json (the result document), mid, musicxml, or none (manifest only)")
        t.add_argument("--resume", action="store_true", help="skip the files DIR's manifest records as done")
        t.add_argument("--engine", choices=ENGINES, default="process",
                       help="process (this machine) or ray (RAY_ADDRESS's cluster, else a local instance)")
        t.add_argument("--tune", type=int, default=None, metavar="N", help="in ABC files, the tune X:N")
        t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu", help="execution device for models")
        if spec.model:
            t.add_argument("--model", default=None, metavar="NAME_OR_PATH", help=f"another model (default {spec.model})")
        add_task_params(t, spec)


def cmd_batch(args: argparse.Namespace) -> int:
    from .batching import JOURNAL, TABLE, batch
    from .cli import PROG, task_params
    from .registry import get

    t0 = time.perf_counter()
    ok = failed = 0
    for rec in batch(args.task, args.inputs, out_dir=args.output, jobs=args.jobs, format=args.format,
                     resume=args.resume, engine=args.engine, device=args.device, model=getattr(args, "model", None),
                     tune=args.tune, progress=True, **task_params(args, get(args.task))):
        ok += rec.ok
        failed += not rec.ok
    from pathlib import Path

    out = Path(args.output)
    manifest = out / TABLE if (out / TABLE).exists() else out / JOURNAL
    print(f"{PROG} batch {args.task}: {ok} done, {failed} failed in {time.perf_counter() - t0:.1f} s; "
          f"manifest: {manifest}", file=sys.stderr)
    return 2 if failed else 0
