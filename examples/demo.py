"""Run every registered task on the example files; outputs go to out/ (what `make demo` does).

Each task gets the examples that fit its input kind: a `melody` task the monophonic tunes,
every other task every example. Each run goes through the real CLI.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from symbolic_ai.registry import TASKS

HERE = Path(__file__).parent
MELODIES = ["folk_melody.abc", "folk_melody.mid"]
EXAMPLES = ["chorale_bwv66_6.musicxml", "maple_leaf_rag.mid", "maple_leaf_rag.musicxml"] + MELODIES


def inputs_for(kind: str) -> list[Path]:
    names = MELODIES if kind == "melody" else EXAMPLES
    return [HERE / n for n in names]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="out")
    args = ap.parse_args()
    failures = 0
    for name, spec in TASKS.items():
        out = Path(args.out) / name
        out.mkdir(parents=True, exist_ok=True)
        files = [str(p) for p in inputs_for(spec.input)]
        for fmt in ("mid", "json"):
            cmd = [sys.executable, "-m", "symbolic_ai.cli", "run", name, *files, "-o", str(out), "--format", fmt]
            print("$", " ".join(cmd[2:]), flush=True)
            failures += subprocess.call(cmd) != 0
    print(f"demo: {len(TASKS)} tasks, outputs in {args.out}/" + (f", {failures} failed" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
