"""Reading and writing Pieces: one entry point, dispatching on the file suffix.

Every write goes to a temporary file in the target directory and is renamed into place, so a
crash never leaves a partial output file.
"""
from __future__ import annotations

import ctypes
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..piece import Piece

if TYPE_CHECKING:
    from ..registry import Result

MAX_BYTES = 64 * 1024 * 1024  # no symbolic file we support is anywhere near this
MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")
SCORE_SUFFIXES = (".musicxml", ".xml", ".mxl", ".abc", ".krn", ".rntxt")
JSON_SUFFIXES = (".json",)
READ_SUFFIXES = MIDI_SUFFIXES + SCORE_SUFFIXES + JSON_SUFFIXES
WRITE_SUFFIXES = (".mid", ".midi", ".musicxml", ".xml", ".json")


def check_file(p: Path, suffixes: tuple[str, ...], kind: str) -> os.stat_result:
    """The stat of `p` if it is a non-empty regular file with one of `suffixes` (`kind`: "music",
    "audio"), else an InputError that starts with the path; nothing is read."""
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{p}: is a directory, expected a {kind} file"
                         + (" (for a folder of files: symbolic-ai batch)" if kind == "music" else ""))
    if p.suffix.lower() not in suffixes:
        raise InputError(f"{p}: unsupported {'' if kind == 'music' else kind + ' '}file type "
                         f"{p.suffix.lower() or '(no suffix)'!r}; supported: {', '.join(suffixes)}")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{p}: not a regular file")
    if st.st_size == 0:
        raise InputError(f"{p}: the file is empty")
    return st


def output_stem(src: Path, clash: Collection[str] = ()) -> str:
    """The stem an output of `src` is named by (`run -o DIR`, `run --plot DIR`, `batch`): the input's
    stem, or `<stem>_<suffix>` when the stem is in `clash` (two inputs share it: song.mid, song.abc)."""
    return f"{src.stem}_{src.suffix.lstrip('.')}" if src.stem in clash else src.stem


def load(path: str | os.PathLike[str] | Any, *, max_bytes: int = MAX_BYTES, tune: int | None = None) -> Piece:
    """Read a MIDI, MusicXML/MXL, ABC, kern, RomanText or wire-format JSON file into a Piece; or
    convert a music21 Stream/Score or a `pretty_midi.PrettyMIDI` (see `symbolic_ai.interop`).

    Checks (missing, directory, suffix, empty, size) happen before a byte is read, so a huge file
    is refused at once. Every failure is an InputError whose message starts with the path.
    In an ABC file with several tunes, `tune` picks one by its `X:` number (default: the first;
    `load_all` reads them all).
    """
    if not isinstance(path, (str, os.PathLike)):
        from ..interop import from_object
        return from_object(path, tune=tune)
    p = Path(path)
    suffix = p.suffix.lower()
    st = check_file(p, READ_SUFFIXES, "music")
    if st.st_size > max_bytes:
        raise InputError(f"{p}: the file is {st.st_size / 2**20:.1f} MiB, over the {max_bytes / 2**20:g} MiB limit "
                         f"for a symbolic music file (load(path, max_bytes=…) raises it)")
    if tune is not None and suffix != ".abc":
        raise InputError(f"{p}: tune={tune!r} picks a tune of an ABC file; this is a {suffix} file")
    try:
        if suffix in MIDI_SUFFIXES:
            from .midi import read_midi
            piece = read_midi(p.read_bytes(), str(p))
        elif suffix in JSON_SUFFIXES:
            from .wire import read_json
            piece = read_json(p.read_bytes(), str(p))
        else:
            from .score import read_score
            piece = read_score(p, tune=tune)
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    except InputError as exc:
        msg = str(exc)
        raise InputError(msg if msg.startswith(str(p)) else f"{p}: {msg}") from None
    return piece.replace(metadata={**piece.metadata, "source": str(p),
                                   "title": piece.metadata.get("title") or p.stem})


def load_all(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> list[Piece]:
    """Every tune of an ABC file, in file order (`metadata["tune"]` is each one's `X:` number);
    for any other file, a list of the one Piece `load` reads."""
    p = Path(path)
    if p.suffix.lower() != ".abc":
        return [load(p, max_bytes=max_bytes)]
    first = load(p, max_bytes=max_bytes)  # every check of `load`, and the first tune
    from .abc import split_tunes
    from .score import read_abc_tune

    tunes = split_tunes(p.read_bytes())
    out = [first]
    for t in tunes[1:]:
        try:
            piece = read_abc_tune(p, t, len(tunes))
        except InputError as exc:
            msg = str(exc)
            raise InputError(msg if msg.startswith(str(p)) else f"{p}: {msg}") from None
        out.append(piece.replace(metadata={**piece.metadata, "title": piece.metadata.get("title") or p.stem}))
    return out


def encoder_for(path: str | os.PathLike[str]) -> Callable[[Piece], bytes]:
    """The function that encodes a Piece for this output suffix (raises InputError if none)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".mid", ".midi"):
        from .midi import write_midi
        return write_midi
    if suffix in (".musicxml", ".xml"):
        from .musicxml import write_musicxml
        return write_musicxml
    if suffix == ".json":
        from .wire import dumps, piece_to_dict
        return lambda piece: dumps(piece_to_dict(piece)).encode()
    raise InputError(f"{path}: cannot write {suffix or '(no suffix)'!r}; choose one of {', '.join(WRITE_SUFFIXES)}")


def encode_result(result: Result, path: str | os.PathLike[str]) -> bytes:
    """The bytes of a task result file: the result document (piece included) for .json, else the
    result's Piece as MIDI/MusicXML. The one encoder the CLI and the daemon share."""
    if Path(path).suffix.lower() == ".json":
        from .wire import dumps
        return dumps(result.to_dict(include_piece=True)).encode()
    return encoder_for(path)(result.piece)


def save_result(result: Result, path: str | os.PathLike[str]) -> Path:
    """Write a task result to `path` (see `encode_result`), atomically."""
    return write_atomic(path, encode_result(result, path))


def save(piece: Piece, path: str | os.PathLike[str]) -> Path:
    """Write a Piece as MIDI, MusicXML or JSON according to the suffix, atomically."""
    encode = encoder_for(path)
    return write_atomic(path, encode(piece))


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write bytes to `path` atomically: the one writer of the library, the CLI and the daemon.

    The data goes to an unnamed file (Linux `O_TMPFILE`, linked under a hidden name only once
    complete; elsewhere a uniquely named O_EXCL file) in the target's directory, is fsynced,
    given the existing target's mode (a new file gets 0644), renamed over the target, and the
    directory is fsynced. A FIFO, device or directory target is refused. On any failure the
    temporary file is removed and `path` is left as it was (absent or old).
    """
    p = Path(path)
    if isinstance(data, str):
        data = data.encode()
    if not p.parent.is_dir():
        raise InputError(f"{p}: the directory {p.parent} does not exist")
    try:
        st = os.stat(p)
    except FileNotFoundError:
        mode = 0o644
    except OSError as exc:
        raise InputError(f"{p}: cannot write there ({exc.strerror or exc})") from None
    else:
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{p}: is a directory; give a file name to write")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{p}: not a regular file (a FIFO, socket or device); it is not replaced")
        mode = stat.S_IMODE(st.st_mode)
    fd, tmp = _temp_file(p, mode)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            if tmp is None:  # unnamed until now: a kill before this line leaves nothing behind
                tmp = _link_unnamed(fd, p)
        finally:
            os.close(fd)
        os.replace(tmp, p)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        if isinstance(exc, OSError):
            raise InputError(f"{p}: cannot write ({exc.strerror or exc})") from None
        raise
    _fsync_dir(p.parent)
    return p


def _temp_file(target: Path, mode: int) -> tuple[int, str | None]:
    """An unnamed file in `target`'s directory (Linux `O_TMPFILE`, when it can later be linked:
    see `_link_unnamed`), else a uniquely named hidden one (O_EXCL): (fd, name or None)."""
    if _LINKAT is not None:
        try:
            return os.open(target.parent, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, mode), None
        except OSError:
            pass  # a file system without O_TMPFILE: a named temporary file
    try:
        return tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise InputError(f"{target}: cannot write there ({exc.strerror or exc})") from None


def _link_unnamed(fd: int, target: Path) -> str:
    """Give the complete unnamed file `fd` a hidden unique name beside `target`, ready to rename.
    `os.link` cannot do it (it does not follow /proc/self/fd: EXDEV); libc's linkat with
    AT_SYMLINK_FOLLOW can."""
    assert _LINKAT is not None
    for _ in range(16):
        name = str(target.parent / f".{target.name}.{os.urandom(6).hex()}.part")
        if _LINKAT(-100, f"/proc/self/fd/{fd}".encode(), -100, name.encode(), 0x400) == 0:  # AT_FDCWD, AT_SYMLINK_FOLLOW
            return name
        err = ctypes.get_errno()
        if err != errno.EEXIST:
            raise OSError(err, os.strerror(err))
    raise OSError(errno.EEXIST, "no free temporary name")


def _linkat() -> Callable[..., int] | None:
    """libc's linkat where unnamed files can be linked (Linux with /proc), else None."""
    if not hasattr(os, "O_TMPFILE") or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        func: Callable[..., int] = ctypes.CDLL(None, use_errno=True).linkat
    except (OSError, AttributeError):
        return None
    return func


_LINKAT = _linkat()


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; a file system that cannot fsync a directory is left as it is."""
    try:
        dfd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
