"""Atomic writes: write to a temporary sibling, then rename, so a killed run never
leaves a half-written file or folder behind.

A write that fails (a read-only folder, a full disk, a file where a folder should
be) removes its temporary and raises `WriteError`, an OSError whose `filename` is
the path that was to be written (never the temporary) and whose `strerror` is the
cause; the command line prints it as one line, `error: cannot write PATH: CAUSE`.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# temporary files and folders are private (0600/0700); what they become gets the usual modes
FILE_MODE = 0o666 & ~_umask()
FOLDER_MODE = 0o777 & ~_umask()


class WriteError(OSError):
    """Writing `filename` failed; `strerror` says why (the cause's errno is kept)."""


def write_error(exc: OSError, path: str | Path) -> WriteError:
    """`exc` as a WriteError that names `path` (the final path, not a temporary)."""
    cause = exc.strerror or str(exc) or type(exc).__name__
    return WriteError(exc.errno or errno.EIO, cause, str(path))


def library_error(exc: Exception, path: str | Path) -> WriteError:
    """A write failure a library reports as its own exception (safetensors' SafetensorError: "... Os {
    code: 28, ... }" or "... (os error 28)") as a WriteError naming `path`, with the system's cause."""
    if isinstance(exc, OSError):
        return write_error(exc, path)
    text = str(exc).strip()
    found = re.search(r"os error (\d+)|code: (\d+)", text)
    if found:
        code = int(found.group(1) or found.group(2))
        return WriteError(code, os.strerror(code), str(path))
    return WriteError(errno.EIO, text.splitlines()[0] if text else type(exc).__name__, str(path))


def _file_above(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` (or `path` itself) that is not a folder, if any."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def ensure_folder(path: str | Path) -> Path:
    """Make the folder `path` (and its parents) unless it exists. Raises WriteError naming `path`
    with a cause a person can act on: "it is a file, not a folder", "X is a file, not a folder",
    "Read-only file system", ..."""
    path = Path(path)
    if path.is_dir():
        return path
    blocker = _file_above(path)
    if blocker is not None:
        what = "it" if blocker == path else str(blocker)
        raise WriteError(errno.ENOTDIR, f"{what} is a file, not a folder", str(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, path) from exc
    return path


def _make_parent(path: Path) -> None:
    """The folder `path` goes in; a failure names `path` itself."""
    try:
        ensure_folder(path.parent)
    except WriteError as exc:
        cause = exc.strerror or ""
        if cause.startswith("it is "):
            cause = f"{path.parent} is {cause[len('it is '):]}"
        raise WriteError(exc.errno, cause, str(path)) from exc


def write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    _make_parent(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            _remove(Path(tmp))
        if isinstance(exc, OSError):
            raise write_error(exc, path) from exc
        raise


def write_text(path: str | Path, text: str) -> None:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:   # a file name that is not UTF-8 (os keeps its bytes as surrogates)
        data = text.encode("utf-8", "backslashreplace")   # stays valid UTF-8: \udcff, readable
    write_bytes(path, data)


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass   # nothing more can be done; the write's own error is the one to report


@contextmanager
def folder(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `path` as a whole. On any failure the
    temporary is removed, `path` is as it was, and an OSError is raised as a WriteError naming `path`."""
    path = Path(path)
    _make_parent(path)
    if (path.exists() or path.is_symlink()) and not path.is_dir():
        raise WriteError(errno.EEXIST, "it is a file, not a folder", str(path))   # never replaced by a folder
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        tmp.chmod(FOLDER_MODE)
    except OSError as exc:
        raise write_error(exc, path) from exc
    try:
        yield tmp
        _swap(tmp, path)
    except BaseException as exc:
        _remove(tmp)
        if isinstance(exc, OSError) and _inside(exc, tmp):
            raise write_error(exc, _final(exc, tmp, path)) from exc
        raise


def _inside(exc: OSError, tmp: Path) -> bool:
    """Whether `exc` is about writing into the temporary folder (not, say, reading a source file)."""
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    return not names or any(str(n) == str(tmp) or str(n).startswith(f"{tmp}{os.sep}") for n in names)


def _final(exc: OSError, tmp: Path, path: Path) -> Path:
    """The final path of what failed: PATH/NAME for the temporary's TMP/NAME, else PATH."""
    name = str(exc.filename) if exc.filename is not None else ""
    return path / name[len(str(tmp)) + 1:] if name.startswith(f"{tmp}{os.sep}") else path


def _swap(tmp: Path, path: Path) -> None:
    """Put the folder `tmp` where `path` is; the old `path` comes back if that fails."""
    old = None
    if path.exists() or path.is_symlink():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except OSError:
        if old is not None:
            os.replace(old, path)
        raise
    if old is not None:
        _remove(old)


@contextmanager
def temporary_files(texts: list[str], extension: str) -> Iterator[list[Path]]:
    """Pieces of text as files piece-00000.EXT, ... in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, text in enumerate(texts):
            path = Path(tmp) / f"piece-{i:05d}{extension}"
            path.write_text(text, encoding="utf-8")
            paths.append(path)
        yield paths
