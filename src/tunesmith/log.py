"""The only way code below the CLI talks to the terminal: messages and progress bars.

Messages go to stderr through tqdm so they never tear a progress bar apart.
`set_quiet(True)` silences everything but warnings (the tests use it).
"""

from __future__ import annotations

import sys

from tqdm import tqdm

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def info(message: str) -> None:
    if not _quiet:
        tqdm.write(message, file=sys.stderr)


def warn(message: str) -> None:
    tqdm.write(f"warning: {message}", file=sys.stderr)


def progress(total: int | None = None, desc: str = "", unit: str = "it", **kwargs) -> tqdm:
    """A progress bar on stderr; hidden when quiet or when nothing would be worth showing."""
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=_quiet,
                dynamic_ncols=True, leave=True, **kwargs)
