"""`tunesmith train`: its flags are the fields of `TrainConfig`."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields

from tunesmith import TunesmithError, settings
from tunesmith.codecs import CodecOptions


def add_train_parser(sub) -> None:
    sub.add_parser("train", help="train a model (an LSTM by default) on a corpus", fill=_train_flags,
                   description="Train an LSTM on ABC tunes or **kern scores as text (character codec), or on "
                               "the notes of MIDI, MusicXML, **kern or ABC scores as (pitch, beat strength, "
                               "duration) events (event codec). A folder whose subfolders hold the music, or "
                               "corpora given as STYLE=CORPUS, train one model with a token per style. Stops "
                               "at the first of --epochs, --steps, --minutes (default: 20 epochs).")


def _train_flags(p: argparse.ArgumentParser) -> None:
    # imported here: torch (which these pull in) costs ~1 s at start-up; --help needs none of it
    from tunesmith.train.config import TrainConfig

    reading = [f.name for f in fields(CodecOptions)]
    settings.add_flags(p.add_argument_group("corpus"), TrainConfig, only=("corpus",))
    settings.add_flags(p, TrainConfig, only=reading, choices_now=True)
    settings.add_flags(p, TrainConfig, only=("out",), required=("out",))
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint with its stored settings; "
                        "--epochs/--steps/--minutes given now replace its limits")
    p.add_argument("--overwrite", action="store_true",
                   help="start the run in --out again from the beginning: its checkpoints, metrics and "
                        "run.json are removed first (a run without a checkpoint starts again without it)")
    settings.add_flags(p, TrainConfig, skip=("corpus", "out", *reading), choices_now=True)
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    # imported here: torch (which these pull in) costs ~1 s at start-up; --help needs none of it
    from tunesmith.train import TrainConfig, train

    if args.resume and args.overwrite:
        raise TunesmithError("--resume continues the run in --out and --overwrite starts it again: give one of them")
    if not args.resume and not args.corpus:
        raise TunesmithError("--corpus is needed to start a run (or --resume to continue one)")
    result = train(settings.from_args(TrainConfig, args, corpus=args.corpus or []), resume=args.resume,
                   overwrite=args.overwrite)
    if os.environ.get("RANK", "0") == "0":   # under torchrun, one process reports
        print(f"run folder: {result.out} (best model: {result.out / 'best'}; plot: {result.out / 'metrics.png'})")
    return 0
