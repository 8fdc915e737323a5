"""Access to the training and evaluation datasets (never copied into the repository).

The data root is, in order: the `root` argument (CLI `--data-root`), `$SYMBOLIC_AI_DATA`, then
`../shared/data` beside the repository or the current directory.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV = "SYMBOLIC_AI_DATA"
_REPO = Path(__file__).resolve().parents[2]


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The dataset directory to use (it may not exist: callers check)."""
    if root:
        return Path(root).expanduser()
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    for base in (_REPO, Path.cwd()):
        candidate = base.parent / "shared" / "data"
        if candidate.exists():
            return candidate
    return _REPO.parent / "shared" / "data"
