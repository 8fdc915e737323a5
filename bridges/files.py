"""File jobs: paths checked against the allowed directories, inputs read through the supported
music formats only, outputs written atomically.

Writes go through `symbolic_ai.io.write_atomic` (temporary file in the target's directory, fsync,
rename): a daemon killed at any moment leaves either the old file or the whole new one.
"""
from __future__ import annotations

from pathlib import Path

from symbolic_ai import io
from symbolic_ai.errors import InputError
from symbolic_ai.piece import Piece
from symbolic_ai.registry import Result

from .config import Config
from .errors import BadRequest, Forbidden, NotFound, TooLarge


def _inside(path: Path, dirs: tuple[Path, ...]) -> bool:
    return any(path == d or path.is_relative_to(d) for d in dirs)


def _text(path: object, what: str) -> str:
    if not isinstance(path, str) or not path or "\x00" in path or len(path) > 4096:
        raise BadRequest(f"{what} must be a non-empty path string, got {path!r:.100}")
    return path


def input_path(path: object, config: Config) -> Path:
    """The resolved input path, if it is a supported music file inside an allowed directory."""
    text = _text(path, "in_path")
    p = Path(text)
    if p.suffix.lower() not in io.READ_SUFFIXES:
        raise Forbidden(f"{text}: the daemon reads only {', '.join(io.READ_SUFFIXES)} files")
    try:
        real = p.resolve()  # links followed, so a link cannot lead outside
    except (OSError, RuntimeError) as exc:
        raise InputError(f"{text}: cannot be opened ({exc})") from None
    if not _inside(real, config.allow_dirs):  # checked first: say nothing about files outside
        raise Forbidden(f"{text}: outside the allowed directories ({', '.join(map(str, config.allow_dirs))}); "
                        f"start the daemon with --allow-dir to add one")
    if not real.exists():
        raise NotFound(f"{text}: no such file")
    if not real.is_file():
        raise Forbidden(f"{text}: not a regular file")
    size = real.stat().st_size
    if size > config.max_file_bytes:
        raise TooLarge(f"{text}: {size} bytes, over the daemon's {config.max_file_bytes}-byte file limit")
    return real


def output_path(path: object, config: Config) -> Path | None:
    """The output path (None for an empty string: no file), checked before any work is done."""
    if path == "" or path is None:
        return None
    text = _text(path, "out_path")
    p = Path(text)
    if p.suffix.lower() not in io.WRITE_SUFFIXES:
        raise Forbidden(f"{text}: the daemon writes only {', '.join(io.WRITE_SUFFIXES)} files")
    try:
        real = p.parent.resolve() / p.name
    except (OSError, RuntimeError) as exc:
        raise InputError(f"{text}: bad directory ({exc})") from None
    if not _inside(real, config.allow_dirs):
        raise Forbidden(f"{text}: outside the allowed directories ({', '.join(map(str, config.allow_dirs))}); "
                        f"start the daemon with --allow-dir to add one")
    if not real.parent.is_dir():
        raise NotFound(f"{text}: the directory {p.parent} does not exist")
    if real.is_symlink() or real.is_dir():
        raise Forbidden(f"{text}: is a link or a directory; the daemon replaces only regular files")
    return real


def read_input(path: Path, config: Config) -> Piece:
    """Load a checked input path as a Piece, refusing more notes than the limit."""
    piece = io.load(path, max_bytes=config.max_file_bytes)
    check_notes(len(piece.notes), config, str(path))
    return piece


def check_notes(n: int, config: Config, what: str = "note list") -> None:
    if n > config.max_notes:
        raise TooLarge(f"{what}: {n} notes, over the daemon's limit of {config.max_notes} (see --max-notes)")


def encode_result(result: Result, path: Path) -> bytes:
    """The bytes of the output file (`symbolic_ai.io.encode_result`)."""
    return io.encode_result(result, path)


def atomic_write(path: Path, data: bytes) -> Path:
    """Write `data` to `path` so that no partial file is ever visible (`symbolic_ai.io.write_atomic`)."""
    return io.write_atomic(path, data)
