"""`tunesmith harmonize MELODY`: a model of voices writes the parts under your melody
(`tunesmith.harmonize`); each file is checked and rendered."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunesmith import TunesmithError, check, log

DEFAULT_STYLE = "chorale"


def add_harmonize_parser(sub) -> None:
    p = sub.add_parser("harmonize", help="a model of voices (chorale) writes the lower parts under your melody",
                       description="Reads one part of MELODY (ABC: its first tune; MusicXML, MIDI, **kern), "
                                   "puts it on the model's time grid and lets the model write the other "
                                   "voices: at every step the top voice is the melody's note, so the melody "
                                   "comes out note for note (notes shorter than the grid step are lengthened "
                                   "to one step). Writes MusicXML with one part per voice, and MIDI; each file "
                                   "is checked ('tunesmith check'). Exit status 1 if one fails.")
    p.add_argument("melody", help="an .abc, .musicxml, .mxl, .mid or .krn file")
    p.add_argument("--style", "-m", "--model", dest="model", default=DEFAULT_STYLE,
                   help=f"model name ('tunesmith models'), model folder or run folder (default {DEFAULT_STYLE})")
    p.add_argument("--part", type=int, help="the part holding the melody, 1 = the top (default: the part named "
                                            "Soprano, Melody, Voice or Cantus, else the top)")
    p.add_argument("-n", type=int, default=1, help="how many harmonizations (default 1)")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature (default: the card's)")
    p.add_argument("--voice-leading", choices=("strict", "free"), default=None,
                   help="strict forbids parallel fifths and octaves between any two voices; free leaves them to "
                        "the model (default: the model card's)")
    p.add_argument("--seed", type=int, help="random seed (the same seed gives the same parts)")
    p.add_argument("-o", "--out", default="out", help="folder to write into (default ./out)")
    p.add_argument("--render", default="midi", metavar="FORMATS",
                   help="also render: midi,svg,wav (default midi; 'none' for none)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--models", action="append", metavar="DIR", help="another folder of models (may repeat)")
    p.set_defaults(func=cmd_harmonize)


def cmd_harmonize(args: argparse.Namespace) -> int:
    # imported here: torch (which these pull in) costs ~1 s at start-up; --help needs none of it
    from tunesmith import bundle, harmonize, render, sample, settings
    from tunesmith.device import pick_device
    from tunesmith.options import SampleOptions, card_defaults

    formats = render.parse_formats(args.render, "--render") if args.render not in ("", "none") else []
    device = pick_device(args.device)
    loaded = bundle.load(args.model, device, args.models)
    temperature = args.temperature if args.temperature is not None else card_defaults(loaded.card).temperature
    settings.check(SampleOptions(n=args.n, temperature=temperature))
    if args.part is not None and args.part < 1:
        raise TunesmithError(f"--part must be 1 or more, not {args.part}")
    melody = harmonize.read_melody(loaded.codec, args.melody, args.part)
    made = harmonize.harmonize(loaded, melody, n=args.n, temperature=temperature, seed=args.seed, device=device,
                               voice_leading=args.voice_leading)
    paths = sample.write(made.pieces, loaded.codec, args.out, stem=f"{Path(args.melody).stem}-harmonized",
                         finish=harmonize.finisher(loaded.codec, melody))
    if formats:
        render.render(paths, formats, args.out, show_progress=False)
    reports = check.check(paths, show_progress=False)
    for path, report, kept in zip(paths, reports, made.kept):
        verdict = "passes the check" if report.valid else "fails the check: " + "; ".join(report.reasons)
        print(f"{path}: {verdict}; melody {'kept note for note' if kept else 'CHANGED'}")
    bad = sum(not r.valid for r in reports) + sum(not k for k in made.kept)
    log.info(f"harmonized {Path(args.melody).name} {len(paths)} times with {loaded.path} (seed {made.seed}: "
             f"--seed {made.seed} repeats them)")
    return 1 if bad else 0
