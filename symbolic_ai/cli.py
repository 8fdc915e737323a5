"""`symbolic-ai`: the command line. Its `run` flags are built from the task registry.

  symbolic-ai tasks                                  the registered tasks
  symbolic-ai run TASK INPUT... [-o OUT] [--json] [--tune N] [--plot PNG] [--PARAM VALUE ...]
  symbolic-ai run align RECORDING SCORE [-o OUT.mid] [--json]   (tasks that take a recording)
  symbolic-ai batch TASK INPUT... -o DIR [--jobs N] [--format F] [--resume] [--engine process|ray]
  symbolic-ai info                                   version, models, execution providers
  symbolic-ai data check [--data-root DIR]           which datasets are present
  symbolic-ai serve [--osc-port N] [--http-port N]    the local inference daemon (OSC + HTTP)
  symbolic-ai hosts list | install HOST [--dest DIR]  plugins for MuseScore, Max, Pd, REAPER
  symbolic-ai midi TASK [--bpm N | --clock]           live MIDI bridge on virtual ports (docs/midi.md)

Errors print one line naming the input and the problem and exit with code 2
(`--debug` shows the traceback).
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import __version__, cli_midi, hosts_cli
from .errors import InputError, SymbolicAIError
from .registry import RECORDING_TASKS, TASKS, TaskSpec, get

PROG = "symbolic-ai"
OUT_FORMATS = {"mid": ".mid", "musicxml": ".musicxml", "json": ".json"}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2), like the rest of the CLI."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_task_parser(sub: argparse._SubParsersAction[_Parser], spec: TaskSpec) -> None:
    p = sub.add_parser(spec.name, help=spec.summary, description=spec.doc,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="MIDI, MusicXML/MXL, ABC, kern, RomanText or JSON"
                   + ("; the first INPUT is the recording (WAV, FLAC, OGG, MP3)" if spec.takes_recording else ""))
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output file (.mid, .musicxml, .json); with several inputs, a directory")
    p.add_argument("--format", choices=sorted(OUT_FORMATS), default="mid",
                   help="file type when OUT is a directory (default: mid)")
    p.add_argument("--json", action="store_true", help="print one JSON document per input, one per line")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="execution device for models")
    if spec.model:
        p.add_argument("--model", default=None, metavar="NAME_OR_PATH",
                       help=f"another model for this task (e.g. {spec.model}-int8, or a path to an .onnx file); "
                            f"default {spec.model}")
    p.add_argument("--tune", type=int, default=None, metavar="N", help="in an ABC file, the tune X:N (default: the first)")
    p.add_argument("--plot", metavar="PNG", help="also draw the result over a piano roll into this image "
                   "(with several inputs, a directory); needs matplotlib")
    add_task_params(p, spec)


def add_task_params(p: argparse.ArgumentParser, spec: TaskSpec) -> None:
    """The task's parameters as --flags (`param_<name>` in the namespace; None when not given)."""
    group = p.add_argument_group("task parameters")
    for prm in spec.params:
        extra = f" (one of: {', '.join(map(str, prm.choices))})" if prm.choices else \
            f" (range {prm.range_text})" if prm.minimum is not None or prm.maximum is not None else ""
        group.add_argument(_flag(prm.name), dest=f"param_{prm.name}", metavar="VALUE", default=None,
                           help=f"{prm.help}{extra}; default {prm.default!r}")


def task_params(args: argparse.Namespace, spec: TaskSpec) -> dict[str, Any]:
    """The task parameters given on the command line (see `add_task_params`)."""
    return {p.name: getattr(args, f"param_{p.name}") for p in spec.params if getattr(args, f"param_{p.name}") is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Symbolic-music AI: music in, music out.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    sub.add_parser("tasks", help="list the registered tasks and their parameters")
    run_p = sub.add_parser("run", help="run a task on one or more files")
    run_sub = run_p.add_subparsers(dest="task", metavar="TASK", parser_class=_Parser)
    run_sub.required = True
    for spec in [*TASKS.values(), *RECORDING_TASKS.values()]:
        _add_task_parser(run_sub, spec)
    sub.add_parser("info", help="version, models and execution providers")
    data_p = sub.add_parser("data", help="datasets for training and evaluation")
    data_sub = data_p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    data_sub.required = True
    check = data_sub.add_parser("check", help="which datasets are present, with counts")
    check.add_argument("--data-root", help="data directory (default: $SYMBOLIC_AI_DATA or ../shared/data)")
    _add_serve_parser(sub)
    hosts_cli.add_parser(sub)
    from .cli_batch import add_batch_parser
    add_batch_parser(sub)
    cli_midi.add_parser(sub)
    return parser


def _add_serve_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser("serve", help="the local inference daemon: OSC over UDP and HTTP/JSON (see docs/daemon.md)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need --token)")
    p.add_argument("--osc-port", type=int, default=9010, help="UDP port for OSC, 0 = any free (default 9010)")
    p.add_argument("--http-port", type=int, default=9011, help="TCP port for HTTP, 0 = any free (default 9011)")
    p.add_argument("--no-osc", action="store_true", help="do not serve OSC")
    p.add_argument("--no-http", action="store_true", help="do not serve HTTP")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="execution device for models")
    p.add_argument("--allow-dir", action="append", metavar="DIR",
                   help="directory file jobs may read and write (repeatable; default: . and the temp dir)")
    p.add_argument("--token-file", metavar="PATH", help="file whose first line is the secret clients must send "
                   "(or set $SYMBOLIC_AI_TOKEN); needed off loopback")
    p.add_argument("--token", help="the secret itself (visible to other users in `ps`: prefer --token-file)")
    p.add_argument("--workers", type=int, default=0, help="jobs run at once (default min(4, CPUs))")
    p.add_argument("--max-queue", type=int, default=256, help="jobs waiting before new ones are refused")
    p.add_argument("--max-notes", type=int, default=100_000, help="notes per note list or input file")
    p.add_argument("--max-file-mb", type=float, default=16, help="largest input file in MB")
    p.add_argument("--max-audio-mb", type=float, default=256, help="largest recording (align, locate) in MB")
    p.add_argument("--job-timeout", type=float, default=120, help="seconds a job may run")
    p.add_argument("--worker-memory-mb", type=int, default=2048, help="memory a job may use in its worker process")
    p.add_argument("--drain-timeout", type=float, default=30, help="seconds SIGTERM waits for running jobs")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")


def cmd_serve(args: argparse.Namespace) -> int:
    from .bridges.config import Config, resolve_token
    from .bridges.server import serve

    config = Config(host=args.host, osc_port=None if args.no_osc else args.osc_port,
                    http_port=None if args.no_http else args.http_port, device=args.device,
                    token=resolve_token(args.token, args.token_file),
                    workers=args.workers, max_queue=args.max_queue, max_notes=args.max_notes,
                    max_file_bytes=int(args.max_file_mb * 1024 * 1024), job_timeout_s=args.job_timeout,
                    max_audio_bytes=int(args.max_audio_mb * 1024 * 1024),
                    worker_memory_mb=args.worker_memory_mb, drain_timeout_s=args.drain_timeout,
                    **({"allow_dirs": tuple(Path(d) for d in args.allow_dir)} if args.allow_dir else {}))
    code: int = serve(config, args.log_level)
    return code


def cmd_tasks(_args: argparse.Namespace) -> int:
    rows = [("task", "model", "summary", "parameters")]
    for spec in [*TASKS.values(), *RECORDING_TASKS.values()]:
        params = ", ".join(f"{p.name}={p.default!r}" for p in spec.params)
        rows.append((spec.name, spec.model or "-", spec.summary, params))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[3])
    return 0


def _output_path(args: argparse.Namespace, src: Path, many: bool, clash: set[str]) -> Path | None:
    """OUT itself, or DIR/<stem>.<task>.<fmt> (`<stem>_<suffix>` when two inputs share a stem)."""
    from . import io

    if not args.output:
        return None
    out = Path(args.output)
    if many or out.is_dir() or args.output.endswith(("/", "\\")):
        if out.exists() and not out.is_dir():
            raise InputError(f"{out}: is a file; with several inputs, -o must name a directory")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{out}: cannot create the output directory ({exc.strerror or exc})") from None
        return out / f"{io.output_stem(src, clash)}.{args.task}{OUT_FORMATS[args.format]}"
    return out


def _summary(data: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in data.items() if isinstance(v, (str, int, float)))


@contextmanager
def _slow_notice(doing: str, why: str, after_s: float = 2.0) -> Iterator[None]:
    """One line on stderr if `doing` takes longer than `after_s` (stdout stays clean for --json)."""
    timer = threading.Timer(after_s, lambda: print(f"{PROG}: still {doing} ({why})…", file=sys.stderr, flush=True))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def cmd_run(args: argparse.Namespace) -> int:
    from . import io
    from .io.wire import dumps
    from .registry import run

    spec = get(args.task)
    params = task_params(args, spec)
    spec.validate(params)  # fail once, before any file is read
    failed = 0
    inputs, recording = list(args.inputs), None
    if spec.takes_recording:  # `run align RECORDING SCORE...`
        if len(inputs) < 2:
            raise InputError(f"{spec.name}: give the recording, then the score: {PROG} run {spec.name} RECORDING SCORE")
        recording, inputs = inputs[0], inputs[1:]
    if spec.name == "locate" and len(inputs) == 1 and Path(inputs[0]).is_dir():  # `run locate CLIP FOLDER`
        from .cli_locate import run_folder
        return run_folder(str(recording), Path(inputs[0]), spec.validate(params), as_json=args.json,
                          out=args.output)
    many = len(inputs) > 1
    stems = [Path(n).stem for n in inputs]
    clash = {s for s in stems if stems.count(s) > 1}
    for name in inputs:
        src = Path(name)
        try:
            out = _output_path(args, src, many, clash)
            if out is not None:
                io.encoder_for(out)  # unsupported suffix: fail before the work
            with _slow_notice(f"reading {src}", "large MusicXML and ABC files take a while"):
                piece = io.load(src, tune=args.tune)
            result = run(args.task, piece, device=args.device, model=getattr(args, "model", None),
                         recording=recording, **params)
            if out is not None:
                io.save_result(result, out)
            if args.plot:
                from .plot import plot_path, save_plot
                save_plot(result, plot_path(args.plot, src, args.task, many, clash), score=piece)
            if args.json:
                print(dumps({"input": str(src), **result.to_dict()}), flush=True)
            else:
                print(f"{src}: {_summary(result.data)}" + (f"  -> {out}" if out else ""), flush=True)
        except SymbolicAIError as exc:
            if args.debug:
                traceback.print_exc()
            msg = str(exc) if str(src) in str(exc) else f"{src}: {exc}"
            print(f"{PROG}: error: {msg}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0


def cmd_batch(args: argparse.Namespace) -> int:
    from .cli_batch import cmd_batch as run_batch
    return run_batch(args)


def cmd_info(_args: argparse.Namespace) -> int:
    from . import runtime

    info = {"version": __version__, "python": sys.version.split()[0], **runtime.describe()}
    print(json.dumps(info, indent=2))
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from . import data

    report = data.check(args.data_root)
    print(json.dumps(report, indent=2))
    if not report.get("root_exists"):
        print(f"{PROG}: error: {report.get('message', 'data root not found')}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, not only before the command
    try:
        try:
            args = build_parser().parse_args([a for a in argv if a != "--debug"])
        except SystemExit as exc:  # --help, --version or a usage error: argparse has printed it
            return exc.code if isinstance(exc.code, int) else 2
        args.debug = debug
        handler = {"tasks": cmd_tasks, "run": cmd_run, "info": cmd_info, "data": cmd_data,
                   "serve": cmd_serve, "hosts": hosts_cli.run, "batch": cmd_batch,
                   "midi": cli_midi.cmd_midi}[args.command]
        return handler(args)
    except SymbolicAIError as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: one line, the traceback with --debug
        if debug:
            traceback.print_exc()
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc} (rerun with --debug and report it)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
