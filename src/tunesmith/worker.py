"""An isolated worker process for fragile jobs, replaced whenever one crashes or hangs.

Renderers and readers are fragile: Verovio kills its whole process on some
malformed ABC (a segmentation fault), and music21 can spend minutes on
garbage. So such jobs run in a worker process: a crash, a hang past the
timeout or an exception becomes an error for that job, the worker is
replaced, and the caller goes on.

A job is a module-level function `job(piece, arg, out_dir) -> result` (the
result must pickle), registered under a name with `register_job`: render.py
registers midi, musicxml and svg, check.py registers check, web/primer.py
registers read_part. `Worker().run(piece, "svg", out_dir)` runs the job named
"svg" (with "svg" as its argument); `Worker(job="read_part")` runs that one
job for every request, with run's second argument as the job's argument.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import traceback
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Callable

from tunesmith import atomic

JOBS: dict[str, str] = {}   # job name → "module:function"


def register_job(name: str, fn: Callable | None = None):
    """Register a module-level function as the worker job `name`: `register_job("check", fn)`,
    or as a decorator, `@register_job("check")`. The function is returned unchanged."""
    def register(fn: Callable) -> Callable:
        JOBS[name] = reference(fn)
        return fn

    return register if fn is None else register(fn)


# A job travels to the worker as a "module:function" string, and the worker imports that module
# by name (importlib): modules that register jobs never need to import each other.
def reference(job: Callable | str) -> str:
    """A job's "module:function" reference: a registered name's, or a module-level function's."""
    if isinstance(job, str):
        if ":" in job:
            return job
        if job not in JOBS:
            raise KeyError(f"no worker job named {job!r} (registered: {', '.join(sorted(JOBS)) or 'none'})")
        return JOBS[job]
    qualname = getattr(job, "__qualname__", "")
    if not callable(job) or "<" in qualname or not getattr(job, "__module__", None):
        raise ValueError(f"a worker job must be a module-level function, not {job!r}")
    return f"{job.__module__}:{qualname}"


# ---- inside the worker process -----------------------------------------------------------

def _resolve(ref: str, found: dict[str, Callable]) -> Callable:
    """The function a "module:function" reference names (importing its module the first time)."""
    if ref not in found:
        module, _, name = ref.partition(":")
        fn = importlib.import_module(module)
        for part in name.split("."):
            fn = getattr(fn, part)
        found[ref] = fn
    return found[ref]


class Captured:
    """What a `capture_stderr` block wrote to file descriptor 2 (`text`, once the block is done)."""

    text = ""


@contextlib.contextmanager
def capture_stderr():
    """Everything written to stderr inside the block, by Python or by a C library (Verovio's humlib
    prints hundreds of raw lines there), goes to a temporary file instead; `Captured.text` holds it."""
    captured = Captured()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink, contextlib.redirect_stderr(io.StringIO()) as python:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = python.getvalue() + sink.read().decode("utf-8", "replace")


def _reason(exc: Exception) -> str:
    """A job's failure in one line: a write that failed as "cannot write PATH: CAUSE", anything else
    as its type, message and where it was raised."""
    if isinstance(exc, atomic.WriteError):
        return f"cannot write {exc.filename}: {exc.strerror}"
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message[:200]}{where}"


def _serve(conn) -> None:
    """The worker's loop: one job in, one answer out, until told to stop."""
    # Ctrl-C in a terminal signals the whole process group: the parent stops, and closes or kills this
    # process; here it is ignored (the parent started it with SIGINT blocked, see Worker._start)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    found: dict[str, Callable] = {}
    while True:
        request = conn.recv()
        if request is None:
            return
        ref, piece, arg, out_dir = request
        try:
            job = _resolve(ref, found)
            # music21 prints its warnings about a piece ("abcFormat: WARNING ...") and Verovio its
            # messages to stderr: a piece's problems are the answer's business, not the terminal's
            with capture_stderr():
                answer = job(piece, arg, Path(out_dir))
            conn.send(("ok", answer))
        except Exception as exc:  # any job failure is this piece's error, not the worker's
            conn.send(("error", _reason(exc)))


# ---- the parent's side -------------------------------------------------------------------

class Worker:
    """A worker process, replaced whenever it crashes or hangs.

    `job`: None runs, for `run(piece, fmt, ...)`, the job registered as `fmt`;
    a registered name or a module-level function runs that job for every
    request. The process is spawned, so a script that uses a worker needs the
    usual `if __name__ == "__main__":` guard."""

    def __init__(self, timeout: float = 60.0, job: Callable | str | None = None):
        self.timeout = timeout
        self.job = job
        self._ref = None if job is None else reference(job)
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._conn = None

    def start(self) -> "Worker":
        """Start the process now (while the caller does other work)."""
        if self._proc is None or not self._proc.is_alive():
            self._start()
        return self

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child,), daemon=True)
        # the process starts with SIGINT blocked (a signal mask is inherited, from any thread), so a
        # Ctrl-C while it imports cannot print a traceback there; _serve then ignores SIGINT for good
        resource_tracker.ensure_running()   # its first start unblocks SIGINT: it goes first
        before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._proc.start()
        finally:
            if signal.SIGINT not in before:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        child.close()
        self._conn = parent

    def kill(self) -> None:
        """Stop the process now, whatever it is doing (the next request starts a new one)."""
        self._kill()

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)
        self._proc, self._conn = None, None

    def run(self, piece, fmt: str, out_dir: Path, timeout: float | None = None) -> tuple[bool, object]:
        """(True, what the job returned) or (False, a one-line reason). The job is the worker's own,
        else the one registered as `fmt`; `fmt` is its argument. `timeout` overrides the worker's."""
        if self._ref is not None:
            return self.call(self._ref, piece, fmt, out_dir, timeout)
        try:
            ref = reference(fmt)
        except KeyError as exc:
            return False, str(exc.args[0])
        return self.call(ref, piece, fmt, out_dir, timeout)

    def call(self, job: Callable | str, piece, arg, out_dir: Path,
             timeout: float | None = None) -> tuple[bool, object]:
        """Run any job (a registered name, "module:function" or a module-level function) in this
        worker: (True, what it returned) or (False, a one-line reason)."""
        timeout = self.timeout if timeout is None else timeout
        request = (reference(job), piece, arg, str(out_dir))
        self.start()
        try:
            self._conn.send(request)
            # the first job also waits for the worker to import what the job needs (music21, Verovio)
            if self._conn.poll(timeout):
                status, value = self._conn.recv()
                return status == "ok", value
        except (EOFError, BrokenPipeError, ConnectionResetError):
            pass
        self._proc.join(1)  # a crashed worker needs a moment to be reaped
        code = self._proc.exitcode
        self._kill()
        if code is None:
            return False, f"the renderer did not finish within {timeout:g} s"
        signal = f"signal {-code}" if code < 0 else f"exit status {code}"
        return False, f"the renderer crashed ({signal})"

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        if self._proc is not None and self._proc.pid is not None:
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.kill()
        self._proc, self._conn = None, None

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None and not issubclass(kind, Exception):   # Ctrl-C, exit: no waiting for a job
            self.kill()
        else:
            self.close()


@contextlib.contextmanager
def using(worker: Worker | None, timeout: float):
    """The caller's worker, left running; or a new one, closed afterwards."""
    if worker is not None:
        yield worker
        return
    with Worker(timeout) as own:
        yield own
