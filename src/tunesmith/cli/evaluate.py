"""Measuring models and pieces: `evaluate` (held-out loss), `judge` (pieces against a corpus),
`select` (a run's checkpoint)."""

from __future__ import annotations

import argparse
import json

from tunesmith import log
from tunesmith.evaluate.judge import judge
from tunesmith.evaluate.novelty import DEFAULT_MAX_COPY
from tunesmith.options import EVALUATE_ADAPT_LR, EVALUATE_ADAPT_SEGMENT, max_copy_notes


def add_evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="held-out loss of a model on any files its codec reads",
                       description="Negative log-likelihood in bits per token (and per character for text "
                                   "models) and next-token accuracy, every piece from the start: the same "
                                   "computation as training's validation, so a model's own validation pieces "
                                   "give its validation figure. A symbol the model never saw is scored as its "
                                   "unknown symbol, and their share is reported beside the loss (a model made "
                                   "before the unknown symbol came leaves such pieces out, and says how many).")
    p.add_argument("model", help="model folder, or a run folder (its best checkpoint)")
    p.add_argument("--data", nargs="+", required=True, help="files, folders, globs or a named corpus")
    p.add_argument("--style", help="score the pieces as this style (models trained on several)")
    p.add_argument("--split", metavar="NAME",
                   help="grid models: the split of a roll JSON file to score (e.g. valid; default: the one it "
                        "was trained on)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda or cuda:N")
    p.add_argument("--constrained", action="store_true",
                   help="also score under the model's grammar (ABC, **kern): each step renormalised over "
                        "the symbols the grammar allows, as sampling draws; beside it the free figure on the "
                        "same pieces, and the pieces the grammar refuses")
    p.add_argument("--average-keys", type=int, default=0, metavar="N",
                   help="grid models: also score with the model's next-token probabilities averaged over the "
                        "piece in N keys (as written, then moved +1, -1, +2, ... semitones): the network as an "
                        "ensemble of itself, still an exact likelihood")
    p.add_argument("--adapt", action="store_true",
                   help="also score with the model learning as it reads (dynamic evaluation): each segment is "
                        "scored, then the weights take one gradient step on it, pieces in their files' order. "
                        "How far a new book is from the model's style once it may learn the book's habits; "
                        "reported beside the static figure")
    p.add_argument("--adapt-lr", type=float, default=None, metavar="LR",
                   help=f"--adapt's learning rate (plain SGD; default {EVALUATE_ADAPT_LR:g})")
    p.add_argument("--adapt-segment", type=int, default=None, metavar="N",
                   help=f"--adapt's segment in tokens: one step after every N (default {EVALUATE_ADAPT_SEGMENT})")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    # imported here: torch (which these pull in) costs ~1 s at start-up; --help needs none of it
    from tunesmith.device import pick_device
    from tunesmith.evaluate.likelihood import evaluate

    adapt = None    # (evaluate checks it before reading any piece)
    if args.adapt or args.adapt_lr is not None or args.adapt_segment is not None:
        adapt = (EVALUATE_ADAPT_LR if args.adapt_lr is None else args.adapt_lr,
                 EVALUATE_ADAPT_SEGMENT if args.adapt_segment is None else args.adapt_segment)
    result = evaluate(args.model, args.data, style=args.style, device=str(pick_device(args.device)),
                      constrained=args.constrained, split=args.split, average_keys=args.average_keys,
                      adapt=adapt)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    line = (f"{result.pieces} pieces, {result.tokens:,} tokens: {result.bits_per_token:.4f} bits per token, "
            f"next-token accuracy {result.accuracy:.1%}")
    if result.bits_per_unit is not None:
        line += f"; {result.bits_per_unit:.4f} bits per {result.unit}"
        if result.written is not None:   # ABC read in one unit note length: the books' own count too
            line += (f" as read ({result.rewriting}), {result.bits_per_written_unit:.4f} per {result.unit} "
                     f"as the files write them")
    if result.nats_per_frame is not None:
        line += f" = {result.nats_per_frame:.4f} nats per frame (time step)"
    if result.unknown_note():
        line += f"; {result.unknown_note()}"
    print(line)
    if result.averaged is not None:
        a = result.averaged
        print(f"averaged over {a['keys']} keys: {a['bits']:.4f} bits per token, next-token accuracy "
              f"{a['accuracy']:.1%} = {a['nats_per_frame']:.4f} nats per frame")
    if result.adapted is not None:
        a = result.adapted
        per_unit, per_written = result.adapted_per_unit()
        line = f"adapting as it reads (lr {a.lr:g}, a step every {a.segment} tokens): {a.bits:.4f} bits per token"
        if per_unit is not None:
            line += f", {per_unit:.4f} per {result.unit}"
            if per_written is not None:
                line += f" as read, {per_written:.4f} per {result.unit} as the files write them"
        print(line + f"; next-token accuracy {a.accuracy:.1%}")
    under = result.constrained
    if under is not None:
        unit = result.unit or "token"
        free, con = (under.per_unit(b) or b for b in (under.free_bits, under.bits))
        print(f"under the grammar: {under.pieces} pieces it accepts, {con:.4f} bits per {unit} "
              f"(without it, on the same pieces: {free:.4f}); {len(under.refused)} refused"
              + (f", e.g. {under.refused[0][0]} at symbol {under.refused[0][1]} ({under.refused[0][2]!r})"
                 if under.refused else ""))
    return 0


def add_judge_parser(sub) -> None:
    p = sub.add_parser("judge", help="judge composed pieces against a corpus: valid, new, alike, collapsed",
                       description="For each piece: the check (validity), the longest run of consecutive notes "
                                   "it shares with a corpus melody and which (more than --max-copy: a copy), "
                                   "and collapse figures; for all: pitch-class, interval, note-length and "
                                   "onset histograms and more against the corpus (Yang & Lerch 2018).")
    p.add_argument("samples", nargs="+", help="the pieces: .abc, .krn, .musicxml, .mid files")
    p.add_argument("--corpus", nargs="+", required=True, help="the training corpus: named, files, folders, globs")
    p.add_argument("--max-copy", default=str(DEFAULT_MAX_COPY), metavar="N",
                   help=f"flag pieces sharing more than N consecutive notes with one corpus melody "
                        f"(default {DEFAULT_MAX_COPY})")
    p.add_argument("--transposed", action="store_true",
                   help="compare by intervals, so a transposed copy counts as a copy")
    p.add_argument("--report", metavar="DIR", help="write report.md, report.html (with plots) and report.json")
    p.add_argument("--json", action="store_true", help="everything as one JSON object on stdout")
    p.add_argument("--timeout", type=float, default=60, help="seconds the check may take per piece (default 60)")
    p.add_argument("--voices", action="store_true",
                   help="pieces in several voices (chorales, quartets): also the share of steps with every voice "
                        "sounding, notes out of their voice's range, voice crossings, and parallel fifths and "
                        "octaves per 100 voice-leading steps (music21), beside the corpus's own rates")
    p.set_defaults(func=cmd_judge)


def _print_judged(result) -> None:
    """One line per piece, the summary, the likeness to the corpus."""
    s = result.summary
    for r in result.rows:
        flag = "COPY " if r["copy"] else ""
        source = f" (from {r['copied_from']})" if r["copied_from"] else ""
        validity = "valid" if r["valid"] else f"INVALID ({r['reasons']})"
        print(f"{r['piece']}: {flag}{validity}; {r['notes']} notes, longest run shared with the corpus "
              f"{r['longest_copy']}{source}; top pitch {r['top_pitch_share']:.0%}")
    print(f"\n{s['pieces']} pieces: {s['valid']} valid ({s['valid_share']:.0%}), {s['copies']} copies "
          f"(more than {s['max_copy']} notes in a row from one of {s['corpus_melodies']} corpus melodies"
          f"{', any transposition' if s['transposition_invariant'] else ''}); longest shared run median "
          f"{s['median_longest_copy']}, max {s['max_longest_copy']}; {s['collapsed']} collapsed "
          f"(one pitch > half the notes), {s['capped_share']:.0%} cut at the length cap")
    for entry in result.comparison["histograms"].values():
        overlap = "-" if entry["overlap"] is None else f"{entry['overlap']:.2f}"
        print(f"  {entry['label']}: overlap with the corpus {overlap}")
    log.info(f"index {s['index_seconds']} s, judging {s['judge_seconds']} s")


def _voice_leading(samples: list[str], spec: list[str]) -> dict:
    from tunesmith import corpus
    from tunesmith.evaluate import voices

    _, _, files, _ = corpus.resolve(spec, codec="events")
    return voices.compare(samples, files)


def _print_voices(leading: dict) -> None:
    """The voice-leading rates: the samples' beside the corpus's."""
    names = {"full_share": "steps with every voice sounding", "out_of_range_share": "notes out of their voice's range",
             "crossings_per_100_steps": "voice crossings per 100 steps",
             "parallels_per_100_moves": "parallel fifths and octaves per 100 voice-leading steps"}
    print(f"\nvoice leading ({len(leading['pieces'])} pieces vs {leading['corpus_pieces']} corpus pieces "
          f"with as many voices):")
    for key, label in names.items():
        mine, theirs = leading["samples"][key], leading["corpus"][key]
        print(f"  {label}: {'-' if mine is None else f'{mine:.4g}'} (corpus {'-' if theirs is None else f'{theirs:.4g}'})")
    longest = max((r["longest_shared_steps"] for r in leading["pieces"]), default=0)
    print(f"  copies of the whole texture (more than {leading['copy_steps']} steps of every voice shared with one "
          f"corpus piece, any key): {leading['texture_copies']}; longest shared run {longest} steps")


def cmd_judge(args: argparse.Namespace) -> int:

    result = judge(args.samples, args.corpus, max_copy=max_copy_notes(args.max_copy) or DEFAULT_MAX_COPY,
                   intervals=args.transposed, timeout=args.timeout)
    s = result.summary
    leading = _voice_leading(args.samples, args.corpus) if args.voices else None
    if args.json:
        print(json.dumps({"summary": s, "pieces": result.rows, "likeness": result.comparison,
                          **({"voice_leading": leading} if leading else {})}, ensure_ascii=False))
    else:
        _print_judged(result)
        if leading:
            _print_voices(leading)
    if args.report:
        from tunesmith.evaluate.report import write_report   # matplotlib: only for a report

        written = write_report(args.report, result.comparison, {"summary": s, "pieces": result.rows},
                               title=f"tunesmith judge: {len(result.rows)} pieces vs {' '.join(args.corpus)}")
        log.info(f"report: {', '.join(str(p) for p in written.values() if p.suffix in ('.html', '.md', '.json'))}")
    return 0


def add_select_parser(sub) -> None:
    p = sub.add_parser("select", help="pick a run's checkpoint: validation loss and judged samples per checkpoint",
                       description="For every checkpoint of a run (at most --limit, evenly spaced): its "
                                   "validation loss and -n sampled pieces checked for validity and copying. The "
                                   "recommended checkpoint has the lowest validation loss among those whose "
                                   "samples copy nothing; it goes into RUN/select.json and 'sample RUN' uses it.")
    p.add_argument("run", help="a training run folder")
    p.add_argument("-n", type=int, default=8, help="pieces sampled per checkpoint (default 8)")
    p.add_argument("--seed", type=int, default=1, help="sampling seed, the same for every checkpoint (default 1)")
    p.add_argument("--max-copy", default=str(DEFAULT_MAX_COPY), metavar="N",
                   help=f"a sample sharing more than N notes in a row with the corpus is a copy (default {DEFAULT_MAX_COPY})")
    p.add_argument("--limit", type=int, default=20, help="judge at most this many checkpoints (default 20)")
    p.add_argument("--max-length", type=int, default=3000, help="longest sample in tokens (default 3000)")
    p.set_defaults(func=cmd_select)


def cmd_select(args: argparse.Namespace) -> int:
    # imported here: torch (which these pull in) costs ~1 s at start-up; --help needs none of it
    from tunesmith.evaluate.select import select

    max_copy = max_copy_notes(args.max_copy) or DEFAULT_MAX_COPY
    rows = select(args.run, n=args.n, seed=args.seed, max_copy=max_copy, limit=args.limit,
                  max_length=args.max_length)
    print(f"{'checkpoint':<18} {'step':>7} {'val bits':>9} {'valid':>6} {'copies':>6} {'longest':>7}")
    for r in rows:
        bits = f"{r.val_bits:.4f}" if r.val_bits is not None else "-"
        mark = "  <- recommended" if r.recommended else ""
        print(f"{r.checkpoint:<18} {r.step:>7} {bits:>9} {r.valid:>3}/{r.pieces:<2} {r.copies:>6} "
              f"{r.longest_copy:>7}{mark}")
    chosen = next(r for r in rows if r.recommended)
    print(f"recommended: {args.run}/checkpoints/{chosen.checkpoint} (lowest validation loss among checkpoints "
          f"whose samples copy at most {max_copy} notes in a row); "
          f"'tunesmith sample {args.run}' uses it now. Plot: {args.run}/select.png")
    return 0
