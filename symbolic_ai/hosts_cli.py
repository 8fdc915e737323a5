"""`symbolic-ai hosts list|install`: the host plugins shipped in the wheel (bridges/hosts/<host>/).

`install HOST` copies a host's files into its user plugin folder (or `--dest`), plus the small
files it generates for this machine (the daemon's address; for MuseScore 3 a script that starts
the daemon with this Python). A manifest in the folder records the SHA-256 of every file it wrote,
so a reinstall replaces its own unchanged files but never a file it did not write (or one edited
since) without `--force`. The plugins themselves are described in docs/hosts.md.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import InputError

MANIFEST = ".symbolic-ai-installed.json"
TASKS = ("harmonize", "chords", "key", "emotion", "perform")
SCORE_TASKS = (*TASKS, "align")  # the MuseScore plugins: align asks for the recording
DEFAULT_HTTP_PORT = 9011


def _platform() -> str:
    return {"win32": "windows", "darwin": "macos"}.get(sys.platform, "linux")


def _documents() -> Path:
    return Path.home() / "Documents"


def _max_packages() -> Path:
    docs = _documents()
    version = "Max 8" if (docs / "Max 8").is_dir() and not (docs / "Max 9").is_dir() else "Max 9"
    return docs / version / "Packages" / "symbolic-ai"


def _reaper_scripts() -> Path:
    if _platform() == "windows":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "REAPER" / "Scripts" / "symbolic-ai"
    if _platform() == "macos":
        return Path.home() / "Library" / "Application Support" / "REAPER" / "Scripts" / "symbolic-ai"
    return Path.home() / ".config" / "REAPER" / "Scripts" / "symbolic-ai"


@dataclass(frozen=True)
class Host:
    """A host: its shipped files (paths under bridges/hosts/, installed flat), its default folder, what next."""

    title: str
    files: tuple[str, ...]
    folder: Callable[[], Path]
    next_steps: str
    note: str = ""


HOSTS: dict[str, Host] = {
    "musescore3": Host(
        "MuseScore 3", (*(f"musescore3/symbolic-ai-{t}.qml" for t in SCORE_TASKS), "musescore3/symbolic-ai-ms3.js",
                        "common/symbolic-ai-core.js"),
        lambda: _documents() / "MuseScore3" / "Plugins",
        "In MuseScore 3: Plugins > Plugin Manager, tick the six symbolic-ai-* plugins, OK; then select some "
        "bars (or nothing, for the whole score) and choose Plugins > symbolic-ai > a task."),
    "musescore4": Host(
        "MuseScore 4", (*(f"musescore4/symbolic-ai-{t}.qml" for t in SCORE_TASKS),
                        "musescore4/symbolic-ai-ms4.js", "common/symbolic-ai-core.js"),
        lambda: _documents() / "MuseScore4" / "Plugins" / "symbolic-ai",
        "Start `symbolic-ai serve`; in MuseScore 4: Home > Plugins, enable the symbolic-ai plugins; then "
        "select some bars and choose Plugins > symbolic-ai > a task.",
        "not run here (MuseScore 4 cannot run headless); see docs/hosts.md"),
    "max": Host(
        "Max/MSP and Max for Live",
        ("max/sai.client.maxpat", "max/sai.client.js", "max/sai.client.maxhelp", "max/symbolic-ai-clip.maxpat",
         "max/sai.clip.js"),
        _max_packages,
        "Start `symbolic-ai serve`; restart Max, open sai.client's help (File > Show Package Contents, or type "
        "[sai.client] in a patcher and Alt-click it). In Live: drop a Max MIDI Effect on a MIDI track, open it "
        "in the editor and paste symbolic-ai-clip.maxpat (see docs/hosts.md).",
        "not run here (no Max on Linux); the patches' messages are replayed against the daemon in tests"),
    "pd": Host(
        "Pure Data (vanilla)", ("pd/sai.pd", "pd/sai-help.pd"),
        lambda: _documents() / "Pd" / "externals" / "symbolic-ai",
        "Start `symbolic-ai serve`; in Pd: File > Preferences > Path, add this folder (or open sai-help.pd "
        "from it) and click the messages in the help patch."),
    "reaper": Host(
        "REAPER", (*(f"reaper/symbolic-ai-{t}.lua" for t in TASKS if t != "chords"), "reaper/symbolic-ai-align.lua",
                   "reaper/symbolic-ai-common.lua"),
        _reaper_scripts,
        "In REAPER: Actions > Show action list > New action > Load ReaScript..., pick the symbolic-ai-*.lua "
        "files; select a MIDI item and run an action (align: the score's MIDI item and its recording's audio item)."),
}


def _generated(host: str, http_port: int) -> dict[str, str]:
    """Files written for this machine: the daemon's address and how to start it with this Python."""
    url = f"http://127.0.0.1:{http_port}"
    py = sys.executable
    out: dict[str, str] = {}
    if host in ("musescore3", "musescore4"):
        out["symbolic-ai-local.js"] = (
            "// written by `symbolic-ai hosts install`: where the plugins find the daemon\n"
            f"var URL = {json.dumps(url)};\nvar TIMEOUT_S = 120;\n")
    if host == "musescore3":
        serve = [py, "-m", "symbolic_ai.cli", "serve", "--http-port", str(http_port), "--osc-port", str(http_port - 1)]
        if _platform() == "windows":
            args = " ".join(f'"{a}"' for a in serve)
            out["symbolic-ai-serve.cmd"] = (
                "@echo off\r\nrem written by `symbolic-ai hosts install`: starts the daemon for the plugins\r\n"
                f'start "symbolic-ai" /b {args} --allow-dir "%~1" --allow-dir "%TEMP%" '
                '> "%TEMP%\\symbolic-ai-serve.log" 2>&1\r\n')
        else:
            args = " ".join("'" + a.replace("'", "'\\''") + "'" for a in serve)
            out["symbolic-ai-serve.sh"] = (
                "#!/bin/sh\n# written by `symbolic-ai hosts install`: starts the daemon for the plugins in the\n"
                "# background; $1 is a folder it may read and write (where the plugin puts its files)\n"
                'RUN="${TMPDIR:-/tmp}"\n'
                f'nohup {args} --allow-dir "${{1:-$HOME}}" --allow-dir "$RUN" >"$RUN/symbolic-ai-serve.log" 2>&1 &\n'
                'echo $! >"$RUN/symbolic-ai-serve.pid"\n')
    if host == "reaper":
        out["symbolic-ai-local.lua"] = (
            "-- written by `symbolic-ai hosts install`: where the scripts find the daemon and this Python\n"
            f"return {{url = {json.dumps(url)}, python = {json.dumps(py)}, timeout_s = 120, start_timeout_s = 60}}\n")
    return out


def _shipped(host: str) -> dict[str, bytes]:
    root = resources.files("symbolic_ai.bridges").joinpath("hosts")
    out = {}
    for rel in HOSTS[host].files:
        src = root.joinpath(*rel.split("/"))
        if not src.is_file():
            raise InputError(f"{rel}: missing from the installed package; reinstall symbolic_ai")
        out[rel.rsplit("/", 1)[1]] = src.read_bytes()
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(dest: Path) -> dict[str, str]:
    try:
        data = json.loads((dest / MANIFEST).read_text())
        return {str(k): str(v) for k, v in data.get("files", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def installed(host: str, dest: Path) -> str:
    """'yes' when every shipped file is in dest, 'partly' when some are, else 'no'."""
    names = [rel.rsplit("/", 1)[1] for rel in HOSTS[host].files]
    have = sum((dest / n).is_file() for n in names)
    return "yes" if have == len(names) else "partly" if have else "no"


def install(host: str, dest: Path | None = None, force: bool = False,
            http_port: int = DEFAULT_HTTP_PORT) -> tuple[Path, list[str]]:
    """Copy HOST's files into dest (default: its user folder); returns the folder and the names written."""
    if host not in HOSTS:
        raise InputError(f"unknown host {host!r}; hosts are {', '.join(HOSTS)}")
    if not 1 <= http_port <= 65535:
        raise InputError(f"--http-port must be in 1..65535, got {http_port}")
    dest = (dest or HOSTS[host].folder()).expanduser()
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest}: not a folder; give --dest a folder")
    files = {**_shipped(host), **{k: v.encode() for k, v in _generated(host, http_port).items()}}
    ours = _manifest(dest)
    for name, data in files.items():
        target = dest / name
        if not target.exists() or force:
            continue
        current = _sha(target.read_bytes()) if target.is_file() else ""
        if current != _sha(data) and ours.get(name) != current:
            raise InputError(f"{target}: exists and was not written by symbolic-ai hosts install (or was edited "
                             "since); move it away or pass --force to replace it")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            tmp = dest / f".{name}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, dest / name)
            if name.endswith(".sh"):
                (dest / name).chmod(0o755)
        ours.update({name: _sha(data) for name, data in files.items()})
        (dest / MANIFEST).write_text(json.dumps({"files": ours}, indent=1, sort_keys=True) + "\n")
    except OSError as exc:
        raise InputError(f"{dest}: cannot install there: {exc.strerror or exc}") from exc
    return dest, sorted(files)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `hosts list` and `hosts install` on the CLI's subparsers."""
    p = sub.add_parser("hosts", help="plugins for MuseScore, Max, Pure Data and REAPER (see docs/hosts.md)")
    hs = p.add_subparsers(dest="hosts_command", metavar="ACTION", parser_class=type(p))
    hs.required = True
    hs.add_parser("list", help="each host, where its plugin files go on this system, whether installed")
    inst = hs.add_parser("install", help="copy a host's plugin files into its user plugin folder")
    inst.add_argument("host", choices=sorted(HOSTS), metavar="HOST", help=f"one of: {', '.join(HOSTS)}")
    inst.add_argument("--dest", metavar="DIR", help="install into DIR instead of the host's user plugin folder")
    inst.add_argument("--force", action="store_true", help="replace files that symbolic-ai did not write")
    inst.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT,
                      help=f"the daemon's HTTP port the plugins use (default {DEFAULT_HTTP_PORT})")


def run(args: argparse.Namespace) -> int:
    """`symbolic-ai hosts ...`"""
    if args.hosts_command == "list":
        rows = [("host", "installed", "folder", "")]
        for name, host in HOSTS.items():
            folder = host.folder()
            rows.append((name, installed(name, folder), str(folder), host.note))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + ("  " + r[3] if r[3] else ""))
        return 0
    dest, names = install(args.host, Path(args.dest) if args.dest else None, args.force, args.http_port)
    print(f"installed {HOSTS[args.host].title} plugin files into {dest}: {', '.join(names)}")
    print("next: " + HOSTS[args.host].next_steps)
    return 0
