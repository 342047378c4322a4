"""`tunesmith continue FILE`: a model continues a person's own tune (`tunesmith.continuation`), and
each file written is checked."""

from __future__ import annotations

import argparse
from dataclasses import fields, replace
from pathlib import Path

from tunesmith import TunesmithError, check, log, settings
from tunesmith.cli.sample import sample_options
from tunesmith.options import (CONTINUE_ADAPT_LR, CONTINUE_ADAPT_PASSES, DEFAULT_MODEL, SampleOptions,
                               card_defaults)

FLAGS = ("n", "temperature", "top_k", "top_p", "max_length", "seed", "precision", "constrain")


def add_continue_parser(sub) -> None:
    p = sub.add_parser("continue", help="a model continues your own tune (ABC or **kern) from where it stops",
                       description="The model continues the tune in FILE (its last tune, for a book of ABC "
                                   "tunes) under the same grammar as its samples. Each file written is your "
                                   "text, unchanged, followed by what the model wrote; it is then checked "
                                   "('tunesmith check') and the verdict printed. Exit status 1 if one fails.")
    p.add_argument("file", help="an .abc or .krn file whose tune stops where the model is to go on")
    p.add_argument("-m", "--model", default=DEFAULT_MODEL,
                   help=f"model name ('tunesmith models'), model folder or run folder (default {DEFAULT_MODEL})")
    settings.add_flags(p, SampleOptions, only=FLAGS, none_default=[f.name for f in fields(SampleOptions)],
                       shown={"temperature": "the model card's", "top_k": "the model card's",
                              "top_p": "the model card's"})
    p.add_argument("-o", "--out", default="out", help="folder to write into (default ./out)")
    p.add_argument("--name", help="file name stem (default: FILE's name with -continued: tune-continued-001.abc)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--models", action="append", metavar="DIR", help="another folder of models (may repeat)")
    p.add_argument("--adapt", action="store_true",
                   help="before continuing, the model reads your tune a few times over and learns from it (a "
                        "copy of it; the model's files are not changed): the continuation follows the tune's "
                        "own habits more closely. Takes a second or two on a CPU")
    p.add_argument("--adapt-passes", type=int, default=None, metavar="N",
                   help=f"--adapt: times the model reads the tune (default {CONTINUE_ADAPT_PASSES})")
    p.add_argument("--adapt-lr", type=float, default=None, metavar="LR",
                   help=f"--adapt: learning rate (plain SGD; default {CONTINUE_ADAPT_LR:g})")
    p.set_defaults(func=cmd_continue, primer=None)


def read_tune(path: Path) -> str:
    """The text of a tune file (its encoding told by its byte-order mark, else UTF-8)."""
    from tunesmith.notation import abc

    try:
        return abc.decode(path.read_bytes(), refuse_binary=True)
    except ValueError as exc:
        raise TunesmithError(f"{path} cannot be read as text: {exc}") from None


def cmd_continue(args: argparse.Namespace) -> int:
    # imported here: torch (which these pull in) costs ~1 s at start-up; --help needs none of it
    from tunesmith import bundle, compose, continuation
    from tunesmith.device import pick_device

    path = Path(args.file)
    text = read_tune(path)
    device = pick_device(args.device)
    loaded = bundle.load(args.model, device, args.models)
    suffix = path.suffix.lower()
    if suffix in (".abc", ".krn") and suffix != loaded.codec.extension:
        raise TunesmithError(f"{path} is {'ABC' if suffix == '.abc' else '**kern'}; the model {args.model} "
                             f"writes {loaded.codec.label(loaded.codec.format)}")
    card = card_defaults(loaded.card)
    base = SampleOptions(temperature=card.temperature, top_k=card.top_k, top_p=card.top_p)
    options = sample_options(args, base)
    try:
        tune = continuation.prepare(loaded.codec, text, path.name, options.constrain)
    except continuation.GrammarRefused as exc:   # the way out, on the command line
        raise TunesmithError(f"{exc}; --no-constraint continues it without the grammar (the result "
                             f"may then fail the check)") from None
    learning = args.adapt or args.adapt_passes is not None or args.adapt_lr is not None
    if learning:
        loaded = continuation.learnt(loaded, tune, device, args.adapt_lr, args.adapt_passes)
    options = replace(options, primer=tune.primer, valid_only=False, max_copy="off")
    made = compose.compose(loaded, options, args.out, stem=args.name or f"{path.stem}-continued",
                           device=device, finish=tune.finisher(loaded.codec))
    last = {r.path: r for r in check.check(made.paths, show_progress=False)}   # a book's: its last tune's
    reports = [last.get(str(p)) or check.Report(str(p), False, ["no piece in it"], path=str(p)) for p in made.paths]
    for written, report in zip(made.paths, reports):
        verdict = "passes the check" if report.valid else "fails the check: " + "; ".join(report.reasons)
        print(f"{written}: {verdict}")
    bad = sum(not r.valid for r in reports)
    seed = made.outcome.seed
    log.info(f"continued {path.name} {len(made.paths)} times with {loaded.path}"
             f"{', having learnt the tune first' if learning else ''} (seed {seed}: --seed {seed} "
             f"repeats them); {len(reports) - bad} of {len(reports)} pass the check")
    return 1 if bad else 0
