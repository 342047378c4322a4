"""Claiming a run folder: one training run at a time in it, and what a new start finds there.

    lock(out)      an exclusive lock on RUN/.lock (fcntl.flock, non-blocking) for the whole run;
                   the file holds the PID of the run that holds it, which a second run is told
    claim(...)     what the folder holds decides how the run starts: a new run, a resumed one,
                   or the run in it started again from the beginning (it holds no checkpoint,
                   or --overwrite)
    recover(out)   a run killed while it replaced last/ or best/ gets the previous one back, and
                   the temporaries of a killed write are removed

A folder that holds run.json but no checkpoint (a run killed before its first
checkpoint, or one that stopped on an error before training) is started again
from the beginning without being asked; one with a checkpoint is continued
with --resume or started again with --overwrite.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tunesmith import TunesmithError, log

try:
    import fcntl
except ImportError:   # not on Windows: runs there are not locked
    fcntl = None

LOCK_FILE = ".lock"
# what a run writes into its folder; starting it again removes these and nothing else
RUN_FILES = ("run.json", "metrics.jsonl", "metrics.png", "checkpoints", "best", "last", "distributed.json",
             "select.json", "skipped.tsv")
NEW, RESUME, RESTART = "new", "resume", "restart"


@contextmanager
def lock(out: Path, active: bool = True) -> Iterator[None]:
    """Hold the run folder's lock (made with the folder) while the block runs; `active` False (every
    process of a distributed run but the first) does nothing. A second run is refused at once."""
    if not active or fcntl is None:
        yield
        return
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise TunesmithError(f"cannot make the run folder '{out}' ({exc.strerror or exc})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise TunesmithError(f"'{out}' is in use by another training run (process {holder}); wait for it to "
                                 f"end or choose another --out") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:
            raise TunesmithError(f"cannot write {out / LOCK_FILE}: {exc.strerror or exc}") from None
        yield
    except BaseException:
        # a run that made its folder and failed before writing anything in it leaves no folder behind
        if created and {p.name for p in out.iterdir()} <= {LOCK_FILE}:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        os.close(fd)   # closing releases the lock; the file stays (removing it would race a new run)


def has_checkpoint(out: Path) -> bool:
    """Whether the folder holds a checkpoint to resume from (last/, with its trainer state)."""
    return (out / "last" / "config.json").is_file()


def claim(out: Path, resume: bool, overwrite: bool, main: bool = True) -> str:
    """How the run in `out` starts: NEW (nothing there, or what was there removed), RESUME (from
    last/) or RESTART (run.json's settings, from the beginning). The decision is the same on every
    process of a distributed run; only the `main` one removes or recovers files."""
    if resume and overwrite:
        raise TunesmithError("--resume continues the run in --out and --overwrite starts it again: give one of them")
    if main:
        recover(out)
    if overwrite:
        if main and any((out / name).exists() for name in RUN_FILES):
            log.warn(f"--overwrite: starting {out} again from the beginning")
            clear(out)
        return NEW
    has_run = (out / "run.json").is_file()
    if resume and not has_run:
        raise TunesmithError(f"--resume: '{out}' is not a training run (no run.json); start it without --resume")
    if has_run and not has_checkpoint(out):
        if main:
            log.warn(f"{out} holds no checkpoint: starting it again from the beginning")
            clear(out, keep=("run.json",) if resume else ())
        return RESTART if resume else NEW
    if resume:
        return RESUME
    if has_run:
        raise TunesmithError(f"'{out}' already holds a training run (its checkpoint is at step {_step_of(out)}); "
                             f"pass --resume to continue it, --overwrite to start it again from the beginning, "
                             f"or choose another --out")
    return NEW


def _step_of(out: Path) -> str:
    import json

    try:
        return str(json.loads((out / "last" / "trainer.json").read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return "?"


def clear(out: Path, keep: tuple[str, ...] = ()) -> None:
    """Remove what a run wrote into `out` (RUN_FILES but `keep`), and leftovers of killed writes."""
    for name in RUN_FILES:
        if name not in keep:
            _remove(out / name)
    _remove_leftovers(out)


def recover(out: Path) -> None:
    """Undo what a kill in the middle of replacing a folder left: last/ or best/ missing while the
    previous one waits as .last.old-PID comes back; temporaries of unfinished writes are removed."""
    if not out.is_dir():
        return
    for name in ("last", "best"):
        olds = sorted(out.glob(f".{name}.old-*"), key=lambda p: p.stat().st_mtime)
        if olds and not (out / name).exists() and (olds[-1] / "config.json").is_file():
            os.replace(olds[-1], out / name)
            log.warn(f"{out / name} was being replaced when the run stopped: the previous one is back")
    _remove_leftovers(out)


def _remove_leftovers(out: Path) -> None:
    for folder in (out, out / "checkpoints"):
        if folder.is_dir():
            for p in folder.iterdir():
                if p.name.startswith(".") and (".tmp" in p.name or ".old-" in p.name):
                    _remove(p)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
