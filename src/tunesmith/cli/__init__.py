"""The `tunesmith` command: a thin shell over the library.

Every subcommand parses its flags, calls one library function and reports. A
predictable mistake ends in one line `error: ...` and exit status 2, never a
traceback. Flags that are settings come from the settings dataclasses
(`settings.add_flags`); one module per group of commands adds its parsers
(`add_*_parser`) and runs them (`cmd_*`).
"""

from __future__ import annotations

import argparse
import errno
import sys
from typing import Callable

from tunesmith import TunesmithError, __version__, atomic, log
from tunesmith.cli import continuing, evaluate, files, harmonizing, models, sample, train
from tunesmith.options import max_copy_notes   # noqa: F401 - cli.max_copy_notes, as before


class Parser(argparse.ArgumentParser):
    """An argparse parser whose flags may be added by `fill` the first time it is used (to parse
    or to show help): a command's flags that come from modules slow to import (torch) cost
    nothing to `tunesmith --help` or to the other commands."""

    def __init__(self, *args, fill: Callable[[argparse.ArgumentParser], None] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._fill = fill

    def _filled(self) -> None:
        fill, self._fill = self._fill, None
        if fill is not None:
            fill(self)

    def parse_known_args(self, args=None, namespace=None):
        self._filled()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._filled()
        return super().format_help()

    def format_usage(self) -> str:
        self._filled()
        return super().format_usage()


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="tunesmith",
        description="Learn a musical style from symbolic music (ABC, **kern, MIDI, MusicXML) with an LSTM "
                    "and compose new pieces.")
    parser.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (files.add_corpus_parser, train.add_train_parser, sample.add_sample_parser,
                sample.add_compose_parser, continuing.add_continue_parser, harmonizing.add_harmonize_parser,
                files.add_render_parser, files.add_check_parser,
                models.add_models_parser, models.add_export_parser, models.add_serve_parser,
                evaluate.add_evaluate_parser, evaluate.add_judge_parser, evaluate.add_select_parser):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:
        log.set_quiet(True)
    func = getattr(args, "func", None)
    if func is None:
        if args.command == "corpus":
            parser.parse_args(["corpus", "--help"])
        parser.print_help()
        return 0
    try:
        return func(args)
    except TunesmithError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # a read-only folder, a full disk, a file where a folder should be, ...
        print(f"error: {os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# causes that only a write can have; other OSErrors read as a failed read (no such file, ...)
WRITE_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EEXIST, errno.ENOTEMPTY}


def os_error(exc: OSError) -> str:
    """An OSError as one sentence: 'cannot write PATH: CAUSE' (or read), naming the path where known."""
    verb = "write" if isinstance(exc, atomic.WriteError) or exc.errno in WRITE_ERRNOS else "read"
    cause = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return f"cannot {verb}: {cause}"
    return f"cannot {verb} {exc.filename}: {cause}"


__all__ = ["Parser", "build_parser", "main", "os_error"]
