"""`tunesmith sample` and `tunesmith compose`: flags from `SampleOptions`, the work done by
`compose.compose` (sample, judge, write, render)."""

from __future__ import annotations

import argparse
import codecs as text_codecs
import time
from dataclasses import fields

from tunesmith import TunesmithError, log, registry, render, settings
from tunesmith.cli.files import report_render
from tunesmith.options import DEFAULT_MODEL, TUNABLE, SampleOptions, card_defaults


def _unescape(text: str) -> str:
    r"""Primers come from a shell: accept `\n` and `\t` written as two characters."""
    try:
        return text_codecs.decode(text.encode("latin-1", "backslashreplace"), "unicode_escape")
    except UnicodeDecodeError as exc:
        raise TunesmithError(f"the primer has a broken escape sequence ({exc.reason})") from None


def sample_options(args: argparse.Namespace, base):
    """The sampling flags given on the command line over `base` (flags left at None keep it)."""
    options = settings.from_args(type(base), args, base)
    if args.primer is not None:
        options.primer = _unescape(args.primer)
    return options


def _report(args: argparse.Namespace, loaded, made, options, formats: list[str]) -> int:
    """Print the files written (with the style each took, when the model picked it), then the render report."""
    for path, piece in zip(made.paths, made.outcome.pieces):
        print(path if piece.style is None or options.style else f"{path} (style {piece.style})")
    seed = made.outcome.seed
    log.info(f"wrote {len(made.paths)} pieces with {loaded.path} (seed {seed}: --seed {seed} repeats them)")
    return report_render(made.rendered, args.out) if formats else 0


def add_sample_parser(sub) -> None:
    p = sub.add_parser("sample", help="compose pieces with a trained model",
                   description="Generate pieces in one batch; each is written as a complete .abc, .krn or "
                               ".musicxml file (note-event models also write MIDI).")
    p.add_argument("model", help="model folder, run folder (its best checkpoint) or model name ('tunesmith models')")
    settings.add_flags(p, SampleOptions)
    p.add_argument("-o", "--out", default="out", help="folder to write the pieces into (default ./out)")
    p.add_argument("--name", default="piece", help="file name stem: piece-001.abc, ... (default 'piece')")
    p.add_argument("--render", metavar="FORMATS", help="also render what is written: midi,musicxml,svg,wav,kern "
                                                       "(kern: one spine per part, for pieces without chords)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--models", action="append", metavar="DIR",
                   help="also look for MODEL by name in this folder (see 'tunesmith models')")
    p.set_defaults(func=cmd_sample)


def cmd_sample(args: argparse.Namespace) -> int:
    # imported here: torch (which these pull in) costs ~1 s at start-up; --help needs none of it
    from tunesmith import bundle, compose
    from tunesmith.device import pick_device

    device = pick_device(args.device)
    formats = render.parse_formats(args.render, "--render") if args.render else []
    loaded = bundle.load(args.model, device, args.models)
    # the model's own decoding rule (its card's --voice-leading) holds for raw samples too
    options = sample_options(args, SampleOptions(voice_leading=card_defaults(loaded.card).voice_leading))
    formats = formats or list(loaded.codec.default_formats)
    made = compose.compose(loaded, options, args.out, stem=args.name, formats=formats, device=device)
    return _report(args, loaded, made, options, formats)


def add_compose_parser(sub) -> None:
    p = sub.add_parser("compose", help="compose a new piece with a shipped or user model, in seconds",
                   description="Compose with a model by name (default: the shipped folk model) using the "
                               "settings measured for it (its card's compose section): pieces that fail "
                               "'tunesmith check' or copy the training corpus are sampled again. Writes "
                               "NAME-001.abc (.krn, .musicxml) with its MIDI, and WAV where FluidSynth and a "
                               "soundfont are installed, into the current folder; existing files are kept.")
    p.add_argument("--style", dest="model", default=DEFAULT_MODEL,
                   help=f"the model to compose with: folk, chorale (four voices), chorale-melody, essen, palestrina, "
                        f"quartet or any name 'tunesmith models' lists (default {DEFAULT_MODEL}); MODEL:STYLE picks "
                        f"one of a model's styles, e.g. quartet:haydn")
    # every flag defaults to None: one left out keeps the model card's setting (or compose's own)
    shown = {name: "the model card's" for name in TUNABLE}
    shown["valid_only"] = "on unless the model card says otherwise"
    settings.add_flags(p, SampleOptions, skip=("style",), none_default=[f.name for f in fields(SampleOptions)],
                       shown=shown)
    p.add_argument("--any", action="store_true",
                   help="keep every sampled piece: no check, no copy guard (faster, rawer)")
    p.add_argument("-o", "--out", default=".", help="folder to write into (default: the current folder)")
    p.add_argument("--to", metavar="FORMATS",
                   help="formats to render beside the score: midi,musicxml,svg,wav,kern; '' for none "
                        "(default midi, and wav where FluidSynth is installed)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--models", action="append", metavar="DIR", help="another folder of models (may repeat)")
    p.set_defaults(func=cmd_compose)


def _compose_formats(to: str | None) -> list[str]:
    """--to, else MIDI and, where FluidSynth and a soundfont are installed, WAV."""
    if to is not None:
        return render.parse_formats(to) if to else []
    missing = render.wav_missing()
    if missing is not None:
        log.info(f"no WAV: {missing}")
    return ["midi"] if missing is not None else ["midi", "wav"]


def cmd_compose(args: argparse.Namespace) -> int:
    # imported here: torch (which these pull in) costs ~1 s at start-up; --help needs none of it
    from tunesmith import bundle, compose
    from tunesmith.device import pick_device

    started = time.perf_counter()
    device = pick_device(args.device)
    formats = _compose_formats(args.to)
    name, _, style = args.model.partition(":")       # quartet:haydn: the model and one of its styles
    loaded = bundle.load(registry.find(name, args.models), device)
    options = sample_options(args, card_defaults(loaded.card))
    if style:
        options.style = style
    if args.any:
        options.valid_only, options.max_copy = False, "off"
    made = compose.compose(loaded, options, args.out, stem=f"{name}-{style}" if style else name, formats=formats,
                           device=device)
    status = _report(args, loaded, made, options, formats)
    log.info(f"composed in {time.perf_counter() - started:.1f} s")
    return status
