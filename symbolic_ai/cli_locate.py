"""`symbolic-ai run locate CLIP FOLDER`: where a clip sits across a folder of scores or performances.

  symbolic-ai run locate clip.wav scores/ [--k 5] [--json]

The folder's music files (not its subfolders) are searched with `tasks.locate.locate_in`; the top
`k` places over all of them come back, each naming its file. A file that cannot be read is skipped
with a warning on stderr; a folder with no music file is an error (exit 2).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .errors import InputError, SymbolicAIError

PROG = "symbolic-ai"


def run_folder(clip: str, folder: Path, params: dict[str, Any], *, as_json: bool, out: Any = None) -> int:
    """Search every music file of `folder` for `clip`; print the places (JSON with `as_json`)."""
    from .io.wire import dumps
    from .tasks.locate import locate_in, music_files

    if out:
        raise InputError(f"{folder}: locate over a folder writes no file; drop -o/--output")
    files = music_files(folder)
    if not files:
        raise InputError(f"{folder}: no music files to search (MIDI, MusicXML, ABC, kern, RomanText, JSON)")

    def skip(path: Path, exc: SymbolicAIError) -> None:
        print(f"{PROG}: warning: {path}: skipped ({exc})", file=sys.stderr)

    k = int(params["k"])
    places = locate_in(clip, files, k, on_error=skip)
    result = {"clip": clip, "files": len(files), "best_score": places[0]["score"] if places else 0.0,
              "places": places}
    if as_json:
        print(dumps({"input": str(folder), "task": "locate", "params": {"k": k}, "result": result}), flush=True)
    else:
        print(f"{folder}: {len(files)} files searched", flush=True)
        for i, p in enumerate(places, 1):
            print(f"  {i}. {p['path']}  beats {p['start_beat']:.1f}-{p['end_beat']:.1f}  "
                  f"({p['start_sec']:.1f}-{p['end_sec']:.1f} s)  score {p['score']:.2f}", flush=True)
    return 0
