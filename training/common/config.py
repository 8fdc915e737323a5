"""Run configs: the options of one training run, saved as `run-config.json` beside its outputs."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@dataclass(frozen=True)
class RunConfig:
    """What a run was started with: model, step, every option, the code's commit and the time."""

    model: str
    step: str
    options: dict[str, Any]
    commit: str | None = field(default_factory=_commit)
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    argv: list[str] = field(default_factory=lambda: list(sys.argv[1:]))

    def save(self, out_dir: Path) -> Path:
        """Write `run-config.json` into `out_dir` (created when missing); returns its path."""
        from symbolic_ai.io import write_atomic

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "run-config.json"
        write_atomic(path, json.dumps(asdict(self), indent=1, default=str) + "\n")
        return path


def save_run_config(model: str, step: str, args: argparse.Namespace | dict[str, Any], out_dir: Path) -> Path:
    """Save the parsed options of a run beside its outputs."""
    options = dict(vars(args)) if isinstance(args, argparse.Namespace) else dict(args)
    return RunConfig(model, step, {k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()}).save(out_dir)
