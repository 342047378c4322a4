"""Commands on music files: `corpus list|show`, `render`, `check`."""

from __future__ import annotations

import argparse
import json

from tunesmith import TunesmithError, check, corpus, log, render, settings
from tunesmith.codecs import CodecOptions

READING = ("format", "codec", "parts", "transpose")   # the CodecOptions `corpus show` reads with


def add_corpus_parser(sub) -> None:
    p = sub.add_parser("corpus", help="list the named corpora or look at one")
    csub = p.add_subparsers(dest="corpus_command", metavar="ACTION")
    c = csub.add_parser("list", help="named corpora from music21's bundled corpus, with piece counts")
    c.set_defaults(func=cmd_corpus_list)
    c = csub.add_parser("show", help="read a corpus and show its first pieces in training shape")
    c.add_argument("corpus", nargs="+", help="named corpus, file, folder or glob; STYLE=CORPUS names a style")
    settings.add_flags(c, CodecOptions, only=READING, groups=False, choices_now=True)
    c.add_argument("--head", type=int, default=2, help="how many pieces to print (default 2)")
    c.set_defaults(func=cmd_corpus_show)


def cmd_corpus_list(args: argparse.Namespace) -> int:
    print(f"{'name':<12} {'format':<6} {'pieces':>7} {'skipped':>7}  description")
    for named in corpus.NAMED.values():
        loaded = corpus.load(named.name, show_progress=False)
        print(f"{named.name:<12} {named.format:<6} {len(loaded.pieces):>7} {len(loaded.skipped):>7}  {named.description}")
    print("\nAny file, folder or glob works too: tunesmith train --corpus path/to/tunes/ ...")
    return 0


def cmd_corpus_show(args: argparse.Namespace) -> int:
    options = settings.from_args(CodecOptions, args)
    settings.check(options)
    loaded = corpus.load(args.corpus, options=options)
    corpus.report(loaded)
    sizes, unit = corpus.lengths(loaded)
    if sizes:
        sizes.sort()
        print(f"{len(sizes)} pieces, {sum(sizes):,} {unit}; median {sizes[len(sizes) // 2]:,}, "
              f"longest {sizes[-1]:,}")
    for piece in loaded.pieces[: args.head]:
        print(f"\n=== {piece.name}\n{piece.text}", end="" if piece.text.endswith("\n") else "\n")
    return 0


def add_render_parser(sub) -> None:
    p = sub.add_parser("render", help="render pieces to MIDI, MusicXML, sheet music (SVG) and audio (WAV)",
                       description="Render ABC (books or single tunes), **kern, MusicXML or MIDI files. Each piece "
                                   "is rendered in a worker process: a renderer that crashes or hangs gives an "
                                   "error for that piece and the rest goes on. Exit status 1 if any failed.")
    p.add_argument("files", nargs="+", help=".abc, .krn, .musicxml/.xml/.mxl or .mid files")
    p.add_argument("--to", default="midi,musicxml,svg,wav",
                   help="comma-separated: midi, musicxml, svg, wav, kern (default all but kern; wav needs FluidSynth; kern writes a spine per part, for scores without chords)")
    p.add_argument("-o", "--out", default="out", help="folder for the rendered files (default ./out)")
    p.add_argument("--timeout", type=float, default=60, help="seconds one piece may take per format (default 60)")
    p.set_defaults(func=cmd_render)


def report_render(results: list, out: str) -> int:
    """Print what was written, warn about what failed; exit status 1 if anything failed."""
    failed = 0
    for r in results:
        for paths in r.outputs.values():
            for p in paths:
                print(p)
        for fmt, reason in r.errors.items():
            failed += 1
            log.warn(f"{r.piece}: {fmt}: {reason}")
    done = sum(len(r.outputs) for r in results)
    log.info(f"rendered {done} of {done + failed} piece/format pairs into {out}"
             + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def cmd_render(args: argparse.Namespace) -> int:

    formats = render.parse_formats(args.to)
    if not 1 <= args.timeout <= 3600:
        raise TunesmithError(f"--timeout must be between 1 and 3600 seconds, not {args.timeout}")
    return report_render(render.render(args.files, formats, args.out, timeout=args.timeout), args.out)


def add_check_parser(sub) -> None:
    p = sub.add_parser("check", help="judge pieces: parse, bar lengths, abc2midi, figures",
                       description="Valid means: music21 parses it into at least one note, no bar is longer or "
                                   "shorter than its time signature (pickups, repeats and first/second endings "
                                   "read as musicians read them) and, for ABC, abc2midi reports no error. "
                                   "Exit status 1 if any piece is invalid.")
    p.add_argument("files", nargs="+", help=".abc (every tune of a book), .krn, .musicxml/.xml/.mxl or .mid files")
    p.add_argument("--json", action="store_true", help="one JSON object per piece on stdout")
    p.add_argument("--timeout", type=float, default=60, help="seconds one piece may take (default 60)")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:

    reports = check.check(args.files, timeout=args.timeout)
    if args.json:
        for r in reports:
            print(json.dumps(r.to_json(), ensure_ascii=False))
    else:
        for r in reports:
            figures = (f"{r.notes} notes, {r.lowest}-{r.highest}, {r.bars} bars, {r.seconds:g} s"
                       if r.notes else "")
            verdict = "valid" if r.valid else "INVALID: " + "; ".join(r.reasons)
            print(f"{r.piece}: {verdict}" + (f" ({figures})" if figures else ""))
    bad = sum(not r.valid for r in reports)
    log.info(f"{len(reports) - bad} of {len(reports)} pieces valid")
    return 1 if bad else 0
