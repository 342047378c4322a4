"""Parse jobs in worker processes, each within its own time limit, so one bad file or tune costs its
own time only.

`run(fn, jobs, seconds)` calls `fn(*job)` for every job and yields `(index, result, error)` as each
finishes: `error` is None, or one line saying why the job gave nothing: its exception, "took over
N s" (an alarm stops a parse that runs past its limit), or "the reader's process crashed or stopped
answering" (a worker that dies, or ignores the alarm in C code, is killed; the jobs it did not
start run again in a fresh pool). Few jobs run in this process, under the same alarm where this is
the main thread.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterator, Sequence

GRACE = 30.0         # seconds past a job's limit before its worker is presumed stuck and killed
ROUNDS = 3           # fresh pools after a crash, at most
CRASHED = "the reader's process crashed or stopped answering"


class TimeUp(BaseException):
    """The alarm of a job that ran past its limit (a BaseException: no `except Exception` in a
    reader swallows it)."""


def _alarm(signum, frame) -> None:
    raise TimeUp()


def within(seconds: float | None, fn: Callable, *args):
    """`fn(*args)`, stopped with TimeUp after `seconds`; no limit where no alarm can be set (not
    the main thread, or no SIGALRM)."""
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return fn(*args)
    previous = signal.signal(signal.SIGALRM, _alarm)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)   # an alarm already set comes back after
    started = time.monotonic()
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))


def reason(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else type(exc).__name__}"[:300]


def call(fn: Callable, args: tuple, seconds: float | None) -> tuple[object, str | None]:
    """One job: (result, None), or (None, why it gave nothing). Runs in a worker process."""
    try:
        return within(seconds, fn, *args), None
    except TimeUp:
        return None, f"took over {seconds:g} s"
    except Exception as exc:  # noqa: BLE001 - every failure is one job's reason
        return None, reason(exc)


def run(fn: Callable, jobs: Sequence[tuple], seconds: Sequence[float | None], workers: int | None = None,
        done: Callable[[], None] | None = None) -> Iterator[tuple[int, object, str | None]]:
    """`fn(*jobs[i])` within `seconds[i]` for every job, in parallel: (i, result, error) as each ends.
    `done()` is called after each (a progress bar's update)."""
    workers = workers or min(os.cpu_count() or 1, 8, len(jobs))
    if workers <= 1 or len(jobs) < 4:
        for i, args in enumerate(jobs):
            yield (i, *call(fn, args, seconds[i]))
            if done is not None:
                done()
        return
    remaining = list(range(len(jobs)))
    for _ in range(ROUNDS):
        lost: list[int] = []
        for i, result, error in _pooled(fn, jobs, seconds, remaining, workers, lost):
            yield i, result, error
            if done is not None:
                done()
        if not lost or len(lost) == len(remaining):
            remaining = lost
            break
        remaining = lost
    for i in remaining:
        yield i, None, CRASHED
        if done is not None:
            done()


def _pooled(fn: Callable, jobs: Sequence[tuple], seconds: Sequence[float | None], which: list[int],
            workers: int, lost: list[int]) -> Iterator[tuple[int, object, str | None]]:
    """One pool over the jobs `which`; those it could not finish (a crash, a stuck worker) go to `lost`."""
    longest = max((s or 0.0 for s in seconds), default=0.0)
    pool = ProcessPoolExecutor(min(workers, len(which)), mp_context=mp.get_context("spawn"))
    try:
        futures: dict[Future, int] = {pool.submit(call, fn, jobs[i], seconds[i]): i for i in which}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=longest + GRACE if longest else None,
                                     return_when=FIRST_COMPLETED)
            if not finished:   # no job ended in a limit and a grace: the running ones are stuck
                for f in pending:
                    if f.running():
                        yield futures[f], None, f"took over {seconds[futures[f]] or 0:g} s"
                    else:
                        lost.append(futures[f])
                _kill(pool)
                return
            for f in finished:
                try:
                    result, error = f.result()
                except (BrokenProcessPool, Exception):  # noqa: BLE001 - a crashed worker: try again
                    lost.append(futures[f])
                    continue
                yield futures[f], result, error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _kill(pool: ProcessPoolExecutor) -> None:
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.kill()
        except (OSError, AttributeError):
            pass
