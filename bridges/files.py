"""File jobs: paths checked against the allowed directories, inputs read through the supported
music formats only, outputs written atomically.

Paths are opened once, so swapping a file or a folder for a link while a job waits changes
nothing: an input is opened when the job is submitted (no following a final link, no blocking on
a FIFO), the place the open file really is (`/proc/self/fd`) is checked against the allowed
directories, and the job reads that open file. An output's folder is opened and checked the
same way when the result is written, and the file is written through that open folder; a target
that exists and is not a regular file is refused. (This needs Linux's `/proc/self/fd`; elsewhere
the paths are resolved and checked again at open and at write time, a narrower window only.)

Writes go through `symbolic_ai.io.write_atomic` (temporary file in the target's directory, fsync,
rename, the target's mode kept): a daemon killed at any moment leaves either the old file or the
whole new one.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from symbolic_ai import io
from symbolic_ai.errors import InputError
from symbolic_ai.io.audio import AUDIO_SUFFIXES, Audio, load_audio
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


PROC_FD = Path("/proc/self/fd")  # Linux: paths to open descriptors; elsewhere paths are re-resolved


def _fd_path(fd: int, path: Path) -> Path:
    """A path that reaches what `fd` has open (or, without /proc, `path` resolved again)."""
    return PROC_FD / str(fd) if PROC_FD.is_dir() else path.resolve()


class InputFile:
    """An input opened at submit time; `load` reads that open file, whatever its path has become.
    The descriptor is closed with `close()` or when the job lets go of it."""

    def __init__(self, text: str, fd: int, real: Path) -> None:
        self.text, self.fd, self.path = text, fd, real

    def load(self, config: Config) -> Piece:
        """The Piece, read through a private link to the open file (the readers choose by suffix)."""
        if self.fd < 0:
            raise InputError(f"{self.text}: the input was already closed")
        d = tempfile.mkdtemp(prefix="sai-in-")
        try:
            link = Path(d) / f"input{self.path.suffix.lower()}"
            os.symlink(_fd_path(self.fd, self.path), link)
            piece = io.load(link, max_bytes=config.max_file_bytes)
        except InputError as exc:  # name the path the client gave, not the private link
            raise InputError(str(exc).replace(str(link), self.text)) from None
        finally:
            shutil.rmtree(d, ignore_errors=True)
        check_notes(len(piece.notes), config, self.text)
        return piece

    def load_recording(self, config: Config) -> Audio | Piece:
        """A task's recording: an Audio for an audio file (named as the client named it), else a Piece
        (`locate` takes a MIDI or score clip too; `align` refuses one with its own message)."""
        if self.fd < 0:
            raise InputError(f"{self.text}: the recording was already closed")
        if self.path.suffix.lower() not in AUDIO_SUFFIXES:
            return self.load(config)
        d = tempfile.mkdtemp(prefix="sai-rec-")
        try:
            link = Path(d) / f"recording{self.path.suffix.lower()}"
            os.symlink(_fd_path(self.fd, self.path), link)
            audio = load_audio(link)
        except InputError as exc:
            raise InputError(str(exc).replace(str(link), self.text)) from None
        finally:
            shutil.rmtree(d, ignore_errors=True)
        return dataclasses.replace(audio, source=self.text)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        self.close()


def input_path(path: object, config: Config, *, what: str = "in_path",
               suffixes: tuple[str, ...] = io.READ_SUFFIXES, max_bytes: int | None = None) -> InputFile:
    """The input, opened now, if it is a supported music file (or one of `suffixes`) inside an
    allowed directory and at most `max_bytes` (the config's file limit) long."""
    text = _text(path, what)
    p = Path(text)
    if p.suffix.lower() not in suffixes:
        raise Forbidden(f"{text}: the daemon reads only {', '.join(suffixes)} files here")
    try:
        real = p.resolve()  # links followed, so a link cannot lead outside
    except (OSError, RuntimeError) as exc:
        raise InputError(f"{text}: cannot be opened ({exc})") from None
    if not _inside(real, config.allow_dirs):  # checked first: say nothing about files outside
        raise Forbidden(f"{text}: outside the allowed directories ({', '.join(map(str, config.allow_dirs))}); "
                        f"start the daemon with --allow-dir to add one")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"{text}: no such file") from None
    except OSError as exc:
        raise Forbidden(f"{text}: cannot be opened ({exc.strerror or exc})") from None
    opened = InputFile(text, fd, real)
    # where the open file really is: a folder swapped for a link after resolve() shows here
    if not _inside(_fd_path(fd, real).resolve(), config.allow_dirs):
        opened.close()
        raise Forbidden(f"{text}: outside the allowed directories (it changed while being opened)")
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        opened.close()
        raise Forbidden(f"{text}: not a regular file")
    limit = config.max_file_bytes if max_bytes is None else max_bytes
    if st.st_size > limit:
        opened.close()
        raise TooLarge(f"{text}: {st.st_size} bytes, over the daemon's {limit}-byte file limit")
    return opened


RECORDING_SUFFIXES = AUDIO_SUFFIXES + io.READ_SUFFIXES  # audio, or a MIDI/score clip for locate


def recording_path(path: object, config: Config) -> InputFile:
    """A recording task's recording (`recording_path`), opened now and checked as `input_path` does;
    audio files may be up to `config.max_audio_bytes` long."""
    return input_path(path, config, what="recording_path", suffixes=RECORDING_SUFFIXES,
                      max_bytes=config.max_audio_bytes)


def recording_loader(src: InputFile, config: Config) -> Callable[[], Audio | Piece]:
    """The job's recording loader (picklable: it runs in a worker process)."""
    return functools.partial(src.load_recording, config)


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


def save_result(result: Result, out: Path, config: Config) -> Path:
    """Write the result to a checked output path: its folder is opened and checked again now, and
    the file is written through that open folder, so a folder swapped for a link meanwhile is refused."""
    try:
        dfd = os.open(out.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"{out}: the directory cannot be opened ({exc.strerror or exc})") from None
    try:
        folder = _fd_path(dfd, out.parent)
        if not _inside(folder.resolve(), config.allow_dirs):
            raise Forbidden(f"{out}: its directory is now outside the allowed directories (was it replaced by a link?)")
        try:
            st = os.stat(out.name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISREG(st.st_mode):
                raise Forbidden(f"{out}: exists and is not a regular file; the daemon replaces only regular files")
        atomic_write(folder / out.name, encode_result(result, out))
    finally:
        os.close(dfd)
    return out


def loader(src: InputFile, config: Config) -> Callable[[], Piece]:
    """The job's input loader for an opened file (picklable: it runs in a worker process)."""
    return functools.partial(src.load, config)


def saver(out: Path | None, config: Config) -> Callable[[Result], Path] | None:
    """The job's output writer for a checked path, or None (picklable: it runs in a worker process)."""
    return None if out is None else functools.partial(save_result, out=out, config=config)


def check_notes(n: int, config: Config, what: str = "note list") -> None:
    if n > config.max_notes:
        raise TooLarge(f"{what}: {n} notes, over the daemon's limit of {config.max_notes} (see --max-notes)")


def encode_result(result: Result, path: Path) -> bytes:
    """The bytes of the output file (`symbolic_ai.io.encode_result`)."""
    return io.encode_result(result, path)


def atomic_write(path: Path, data: bytes) -> Path:
    """Write `data` to `path` so that no partial file is ever visible (`symbolic_ai.io.write_atomic`)."""
    return io.write_atomic(path, data)
