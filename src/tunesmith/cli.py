"""The `tunesmith` command: a thin shell over the library.

Every subcommand parses its flags, calls one library function and reports. A
predictable mistake ends in one line `error: ...` and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import codecs as text_codecs
import os
import sys

from tunesmith import TunesmithError, __version__, log
from tunesmith.compose import DEFAULT_MODEL, TUNABLE, Options, max_copy_notes
from tunesmith.evaluate.novelty import DEFAULT_MAX_COPY


def _unescape(text: str) -> str:
    r"""Primers come from a shell: accept `\n` and `\t` written as two characters."""
    try:
        return text_codecs.decode(text.encode("latin-1", "backslashreplace"), "unicode_escape")
    except UnicodeDecodeError as exc:
        raise TunesmithError(f"the primer has a broken escape sequence ({exc.reason})") from None


def cmd_corpus_list(args: argparse.Namespace) -> int:
    from tunesmith import corpus

    print(f"{'name':<12} {'format':<6} {'pieces':>7} {'skipped':>7}  description")
    for named in corpus.NAMED.values():
        loaded = corpus.load(named.name, show_progress=False)
        print(f"{named.name:<12} {named.format:<6} {len(loaded.pieces):>7} {len(loaded.skipped):>7}  {named.description}")
    print("\nAny file, folder or glob works too: tunesmith train --corpus path/to/tunes/ ...")
    return 0


def cmd_corpus_show(args: argparse.Namespace) -> int:
    from tunesmith import corpus

    loaded = corpus.load(args.corpus, args.format, codec=args.codec, parts=args.parts, transpose=args.transpose)
    corpus.report(loaded)
    if loaded.format == "events":
        lengths = sorted(len(p.meta["events"]["events"]) for p in loaded.pieces)
        unit = "events"
    else:
        lengths = sorted(len(p.text) for p in loaded.pieces)
        unit = "characters"
    if lengths:
        print(f"{len(lengths)} pieces, {sum(lengths):,} {unit}; median {lengths[len(lengths) // 2]:,}, "
              f"longest {lengths[-1]:,}")
    for piece in loaded.pieces[: args.head]:
        print(f"\n=== {piece.name}\n{piece.text}", end="" if piece.text.endswith("\n") else "\n")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from tunesmith.train import TrainConfig, train

    if not args.resume and not args.corpus:
        raise TunesmithError("--corpus is needed to start a run (or --resume to continue one)")
    cfg = TrainConfig(
        corpus=args.corpus or [], out=args.out, format=args.format, codec=args.codec, parts=args.parts,
        chords=args.chords, transpose=args.transpose, augment=args.augment, layers=args.layers, hidden=args.hidden,
        embed=args.embed, dropout=args.dropout, batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
        lr_final=args.lr_final, clip=args.clip, epochs=args.epochs, steps=args.steps, minutes=args.minutes,
        valid_fraction=args.valid_fraction, eval_every=args.eval_every, save_every=args.save_every,
        seed=args.seed, device=args.device, precision=args.precision, preview_length=args.preview_length,
        copy_index=not args.no_copy_index)
    result = train(cfg, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":   # under torchrun, one process reports
        print(f"run folder: {result.out} (best model: {result.out / 'best'}; plot: {result.out / 'metrics.png'})")
    return 0


def _sample_options(args: argparse.Namespace, base: Options) -> Options:
    """The sampling flags given on the command line over `base` (flags left at None keep it)."""
    from dataclasses import replace

    given = {name: getattr(args, name, None) for name in ("n", "temperature", "top_k", "top_p", "max_length",
                                                          "style", "key", "seed", "max_copy", "tries", "precision")}
    given = {k: v for k, v in given.items() if v is not None}
    if args.primer is not None:
        given["primer"] = _unescape(args.primer)
    if args.valid_only:
        given["valid_only"] = True
    return replace(base, **given)


def _write_and_render(args: argparse.Namespace, loaded, outcome, options, stem: str, formats: list[str],
                      worker=None) -> int:
    from tunesmith import render, sample

    paths = sample.write(outcome.pieces, loaded.codec, args.out, stem=stem, key=options.key)
    for p, piece in zip(paths, outcome.pieces):
        print(p if piece.style is None or options.style else f"{p} (style {piece.style})")
    log.info(f"wrote {len(paths)} pieces with {loaded.path} (seed {outcome.seed}: --seed {outcome.seed} repeats them)")
    if formats:
        results = render.render(paths, formats, args.out, show_progress=len(paths) > 1, worker=worker)
        return _report_render(results, args.out)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from tunesmith import bundle, compose, render
    from tunesmith.train import pick_device

    device = pick_device(args.device)
    formats = render.parse_formats(args.render) if args.render else []
    loaded = bundle.load(args.model, device, args.models)
    options = _sample_options(args, compose.Options())
    if loaded.codec.kind == "events" and not formats:
        formats = ["midi"]   # an event model's piece is a score: hear it without another command
    outcome = compose.run(loaded, options, device)
    return _write_and_render(args, loaded, outcome, options, args.name, formats)


def cmd_compose(args: argparse.Namespace) -> int:
    import time

    from tunesmith import bundle, compose, registry, render
    from tunesmith.train import pick_device

    started = time.perf_counter()
    device = pick_device(args.device)
    if args.to is not None:
        formats = render.parse_formats(args.to) if args.to else []
    else:
        formats = ["midi"]
        missing = render.wav_missing()
        if missing is None:
            formats.append("wav")
        else:
            log.info(f"no WAV: {missing}")
    loaded = bundle.load(registry.find(args.model, args.models), device)
    options = _sample_options(args, compose.card_defaults(loaded.card))
    if args.any:
        options.valid_only, options.max_copy = False, "off"
    compose.validate(loaded, options)
    # one worker checks and renders; it starts now and imports music21 while the model samples
    with render.Worker() as worker:
        if options.valid_only or formats:
            worker.start()
        outcome = compose.run(loaded, options, device, worker)
        status = _write_and_render(args, loaded, outcome, options, args.model, formats, worker)
    log.info(f"composed in {time.perf_counter() - started:.1f} s")
    return status


def _report_render(results: list, out: str) -> int:
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
    from tunesmith import render

    formats = render.parse_formats(args.to)
    if not 1 <= args.timeout <= 3600:
        raise TunesmithError(f"--timeout must be between 1 and 3600 seconds, not {args.timeout}")
    return _report_render(render.render(args.files, formats, args.out, timeout=args.timeout), args.out)


def cmd_check(args: argparse.Namespace) -> int:
    import json

    from tunesmith import check

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


def _reading_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["abc", "kern", "midi", "musicxml"],
                   help="only files of this format (default: every music file, format from its extension)")
    p.add_argument("--codec", choices=["auto", "chars", "events"], default="auto",
                   help="chars: ABC/kern text one character per token; events: notes of any score; auto: chars "
                        "for ABC or **kern files, events otherwise (default auto)")
    p.add_argument("--parts", default="melody",
                   help="events: melody (the part named Soprano/Melody/Voice, else the top part), all (each "
                        "part its own sequence) or a part number N (1 = top)")
    p.add_argument("--transpose", metavar="KEY",
                   help="events: move every piece to KEY, e.g. C (C major, A minor for minor pieces)")


def cmd_models(args: argparse.Namespace) -> int:
    import json

    from tunesmith import registry

    entries = registry.models(args.models)
    if args.name:
        entry = next((e for e in entries if e.name == args.name), None)
        if entry is None:
            registry.find(args.name, args.models)   # the error that lists the known names
        if args.json:
            print(json.dumps({"name": entry.name, "path": str(entry.path), "source": entry.source,
                              "card": entry.card, "problem": entry.problem}, ensure_ascii=False))
        else:
            print(f"{entry.name} ({entry.source}): {entry.path}")
            print(entry.problem or _card_text(entry.card))
        return 0
    if args.json:
        print(json.dumps([{"name": e.name, "path": str(e.path), "source": e.source, "card": e.card,
                           "problem": e.problem} for e in entries], ensure_ascii=False))
        return 0
    if not entries:
        print("no models found; searched: " + ", ".join(str(f) for f, _ in registry.search_path(args.models)))
        return 0
    print(f"{'name':<16} {'format':<8} {'corpus':<24} {'pieces':>6} {'bits/token':>10}  {'source':<9} path")
    for e in entries:
        c = e.card
        bits = f"{c['val_bits']:.3f}" if isinstance(c.get("val_bits"), (int, float)) else "-"
        line = (f"{e.name:<16} {str(c.get('format', '?')):<8} {str(c.get('corpus', '?'))[:24]:<24} "
                f"{str(c.get('pieces', '?')):>6} {bits:>10}  {e.source:<9} {e.path}")
        print(line + (f"  ({e.problem})" if e.problem else ""))
        for other in e.shadows:
            print(f"{'':<16} (hides {other})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tunesmith import bundle

    path = bundle.export(args.run, args.out, half=args.half)
    size = sum(f.stat().st_size for f in path.iterdir())
    print(path)
    log.info(f"exported {len(list(path.iterdir()))} files, {size / 1e6:.1f} MB; put the folder on the models search "
             f"path ('tunesmith models' shows it) to use it by name")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise TunesmithError(f"--port must be between 1 and 65535, not {args.port}")
    try:
        from tunesmith.web.app import serve
    except ImportError as exc:
        raise TunesmithError(f"the web app needs FastAPI and uvicorn ({exc}); pip install fastapi uvicorn") from None
    serve(args.host, args.port, args.models)
    return 0


def _card_text(card: dict) -> str:
    """A model card for people: one line per field, the judged figures as short sentences."""
    lines = []
    for key, value in card.items():
        if key in ("judged", "compose"):
            continue
        lines.append(f"  {key}: {value}")
    settings = card.get("compose")
    if isinstance(settings, dict):
        lines.append("  compose settings: " + ", ".join(f"{k} {v!r}" for k, v in settings.items()))
    judged = card.get("judged")
    if isinstance(judged, dict):
        def figures(f: dict) -> str:
            return (f"{f.get('valid')} of {f.get('pieces')} valid, {f.get('copies')} flagged as copies "
                    f"(>{f.get('max_copy')} notes), {f.get('collapsed')} collapsed, "
                    f"longest shared run median {f.get('median_longest_copy')}")
        for t, f in (judged.get("raw") or {}).items():
            if isinstance(f, dict):
                lines.append(f"  raw samples at temperature {t}: {figures(f)}")
        if isinstance(judged.get("composed"), dict):
            lines.append(f"  composed with the settings above: {figures(judged['composed'])}")
        if judged.get("compose_seconds_median") is not None:
            lines.append(f"  'tunesmith compose' took {judged['compose_seconds_median']} s (median)")
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from tunesmith.evaluate.likelihood import evaluate
    from tunesmith.train import pick_device

    result = evaluate(args.model, args.data, style=args.style, device=str(pick_device(args.device)))
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    line = (f"{result.pieces} pieces, {result.tokens:,} tokens: {result.bits_per_token:.4f} bits per token, "
            f"next-token accuracy {result.accuracy:.1%}")
    if result.bits_per_character is not None:
        line += f"; {result.bits_per_character:.4f} bits per character"
    print(line)
    return 0


def cmd_judge(args: argparse.Namespace) -> int:
    import json

    from tunesmith.evaluate.judge import judge

    result = judge(args.samples, args.corpus, max_copy=max_copy_notes(args.max_copy) or DEFAULT_MAX_COPY,
                   intervals=args.transposed, timeout=args.timeout)
    s = result.summary
    if args.json:
        print(json.dumps({"summary": s, "pieces": result.rows, "likeness": result.comparison}, ensure_ascii=False))
    else:
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
        for name, entry in result.comparison["histograms"].items():
            overlap = "-" if entry["overlap"] is None else f"{entry['overlap']:.2f}"
            print(f"  {entry['label']}: overlap with the corpus {overlap}")
        log.info(f"index {s['index_seconds']} s, judging {s['judge_seconds']} s")
    if args.report:
        from tunesmith.evaluate.report import write_report

        written = write_report(args.report, result.comparison, {"summary": s, "pieces": result.rows},
                               title=f"tunesmith judge: {len(result.rows)} pieces vs {' '.join(args.corpus)}")
        log.info(f"report: {', '.join(str(p) for p in written.values() if p.suffix in ('.html', '.md', '.json'))}")
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    from tunesmith.evaluate.select import select

    rows = select(args.run, n=args.n, seed=args.seed, max_copy=max_copy_notes(args.max_copy) or DEFAULT_MAX_COPY,
                  limit=args.limit, max_length=args.max_length)
    print(f"{'checkpoint':<18} {'step':>7} {'val bits':>9} {'valid':>6} {'copies':>6} {'longest':>7}")
    for r in rows:
        bits = f"{r.val_bits:.4f}" if r.val_bits is not None else "-"
        mark = "  <- recommended" if r.recommended else ""
        print(f"{r.checkpoint:<18} {r.step:>7} {bits:>9} {r.valid:>3}/{r.pieces:<2} {r.copies:>6} "
              f"{r.longest_copy:>7}{mark}")
    chosen = next(r for r in rows if r.recommended)
    print(f"recommended: {args.run}/checkpoints/{chosen.checkpoint} (lowest validation loss among checkpoints "
          f"whose samples copy at most {max_copy_notes(args.max_copy) or DEFAULT_MAX_COPY} notes in a row); "
          f"'tunesmith sample {args.run}' uses it now. Plot: {args.run}/select.png")
    return 0


def _sampling_flags(p: argparse.ArgumentParser, defaults: Options | None) -> None:
    """The flags that shape sampled pieces, defaulting to `defaults` (sample), or with defaults None
    to the model card's measured settings (compose: flags left at None keep the card's)."""
    def d(name: str) -> tuple:
        if defaults is None:
            return None, "the model card's" if name in TUNABLE else getattr(Options(), name)
        value = getattr(defaults, name)
        return value, (repr(value) if isinstance(value, str) else value)

    value, shown = d("n")
    p.add_argument("-n", type=int, default=value, help=f"number of pieces (default {shown})")
    value, shown = d("temperature")
    p.add_argument("--temperature", type=float, default=value, help=f"sampling temperature; 0 is greedy (default {shown})")
    value, shown = d("top_k")
    p.add_argument("--top-k", type=int, default=value, help=f"sample among the k likeliest tokens; 0 is off (default {shown})")
    value, shown = d("top_p")
    p.add_argument("--top-p", type=float, default=value, help=f"nucleus sampling mass; 1.0 is off (default {shown})")
    value, shown = d("primer")
    p.add_argument("--primer", default=value,
                   help=rf"text every piece starts with, e.g. 'M:6/8\nK:D\n' (\n is a newline; default {shown})")
    value, shown = d("max_length")
    p.add_argument("--max-length", type=int, default=value,
                   help=f"longest piece in tokens (characters for text models), primer included (default {shown})")
    if defaults is not None:    # compose's --style names the model
        p.add_argument("--style", help="the style to compose in, for a model trained on several (default: the model picks)")
    p.add_argument("--key", help="note-event models: write the pieces in this key (G, Bb major; e, f# minor)")
    p.add_argument("--seed", type=int, help="random seed (default: a new one each time)")
    value, shown = d("precision")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=value,
                   help="matrix products of each step: auto (bf16 on CPUs with bfloat16 arithmetic for 2 "
                        "pieces or more, sampling 100 tunes about 1.9x faster; else fp32), fp32 or bf16 "
                        "(default auto)")
    p.add_argument("--valid-only", action="store_true",
                   help="re-sample pieces that fail 'tunesmith check' (up to --tries rounds)"
                        + ("" if defaults else "; on unless the model card says otherwise"))
    value, shown = d("max_copy")
    p.add_argument("--max-copy", default=value, metavar="N",
                   help="copy guard: re-sample pieces that share more than N consecutive notes with the training "
                        f"corpus; auto: N = {DEFAULT_MAX_COPY} where the model has the corpus index "
                        f"(see README); off switches it off (default {shown})")
    value, shown = d("tries")
    p.add_argument("--tries", type=int, default=value,
                   help=f"rounds of sampling for --valid-only and the copy guard (default {shown})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunesmith",
        description="Learn a musical style from symbolic music (ABC, **kern, MIDI, MusicXML) with an LSTM "
                    "and compose new pieces.")
    parser.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("corpus", help="list the named corpora or look at one")
    csub = p.add_subparsers(dest="corpus_command", metavar="ACTION")
    c = csub.add_parser("list", help="named corpora from music21's bundled corpus, with piece counts")
    c.set_defaults(func=cmd_corpus_list)
    c = csub.add_parser("show", help="read a corpus and show its first pieces in training shape")
    c.add_argument("corpus", nargs="+", help="named corpus, file, folder or glob; STYLE=CORPUS names a style")
    _reading_flags(c)
    c.add_argument("--head", type=int, default=2, help="how many pieces to print (default 2)")
    c.set_defaults(func=cmd_corpus_show)

    p = sub.add_parser("train", help="train an LSTM on a corpus",
                       description="Train an LSTM on ABC tunes or **kern scores as text (character codec), or on "
                                   "the notes of MIDI, MusicXML, **kern or ABC scores as (pitch, beat strength, "
                                   "duration) events (event codec). A folder whose subfolders hold the music, or "
                                   "corpora given as STYLE=CORPUS, train one model with a token per style. Stops "
                                   "at the first of --epochs, --steps, --minutes (default: 20 epochs).")
    p.add_argument("--corpus", nargs="+",
                   help="named corpus (see 'tunesmith corpus list'), file, folder or glob; STYLE=CORPUS names a style")
    _reading_flags(p)
    p.add_argument("--chords", choices=["reduce", "keep"], default="reduce",
                   help="events: reduce keeps the chord tone nearest the previous melody note, keep makes one "
                        "token of all its pitches (default reduce)")
    p.add_argument("--augment", type=int, default=0,
                   help="events: add N transposed copies (+1, -1, +2, ... semitones) of every training piece")
    p.add_argument("--out", required=True, help="run folder to create (or to continue with --resume)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint with its stored settings; "
                        "--epochs/--steps/--minutes given now replace its limits")
    g = p.add_argument_group("model")
    g.add_argument("--layers", type=int, default=3, help="LSTM layers (default 3)")
    g.add_argument("--hidden", type=int, default=256, help="LSTM units per layer (default 256)")
    g.add_argument("--embed", type=int, default=64, help="embedding size (default 64)")
    g.add_argument("--dropout", type=float, default=0.3, help="dropout between layers and before the head (default 0.3)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--batch-size", type=int, default=16, help="rows of pieces per batch (default 16)")
    g.add_argument("--seq-len", type=int, default=128, help="steps of back-propagation through time (default 128)")
    g.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    g.add_argument("--lr-final", type=float, default=0.05, help="final learning rate as a fraction of --lr, cosine decay (default 0.05)")
    g.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (default 1.0)")
    g = p.add_argument_group("length, validation, checkpoints")
    g.add_argument("--epochs", type=int, help="stop after this many epochs in all")
    g.add_argument("--steps", type=int, help="stop after this many steps in all")
    g.add_argument("--minutes", type=float,
                   help="stop after this many minutes of training in all (a resumed run counts its earlier minutes)")
    g.add_argument("--valid-fraction", type=float, default=0.1, help="share of pieces held out for validation (default 0.1)")
    g.add_argument("--eval-every", type=int, default=500, help="validate, plot and checkpoint every N steps (default 500)")
    g.add_argument("--save-every", type=int, help="checkpoint every N steps (default: at every validation)")
    g.add_argument("--preview-length", type=int, default=400, help="characters of the preview sampled after each epoch")
    g.add_argument("--seed", type=int, default=1, help="random seed: same seed, same run (default 1)")
    g.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    g.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="CUDA: bf16 or fp16 (with loss scaling) mixed precision; CPU: fp32 (default fp32)")
    g.add_argument("--no-copy-index", action="store_true",
                   help="do not store an index of the corpus's melodies in the bundles (no copy guard at sampling)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="compose pieces with a trained model",
                       description="Generate pieces in one batch; each is written as a complete .abc, .krn or "
                                   ".musicxml file (note-event models also write MIDI).")
    p.add_argument("model", help="model folder, run folder (its best checkpoint) or model name ('tunesmith models')")
    _sampling_flags(p, Options())
    p.add_argument("-o", "--out", default="out", help="folder to write the pieces into (default ./out)")
    p.add_argument("--name", default="piece", help="file name stem: piece-001.abc, ... (default 'piece')")
    p.add_argument("--render", metavar="FORMATS", help="also render what is written: midi,musicxml,svg,wav")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--models", action="append", metavar="DIR",
                   help="also look for MODEL by name in this folder (see 'tunesmith models')")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("compose", help="compose a new piece with a shipped or user model, in seconds",
                       description="Compose with a model by name (default: the shipped folk model) using the "
                                   "settings measured for it (its card's compose section): pieces that fail "
                                   "'tunesmith check' or copy the training corpus are sampled again. Writes "
                                   "NAME-001.abc (.krn, .musicxml) with its MIDI, and WAV where FluidSynth and a "
                                   "soundfont are installed, into the current folder; existing files are kept.")
    p.add_argument("--style", dest="model", default=DEFAULT_MODEL,
                   help=f"the model to compose with: folk, chorale, essen or any name 'tunesmith models' "
                        f"lists (default {DEFAULT_MODEL})")
    _sampling_flags(p, None)
    p.add_argument("--any", action="store_true",
                   help="keep every sampled piece: no check, no copy guard (faster, rawer)")
    p.add_argument("-o", "--out", default=".", help="folder to write into (default: the current folder)")
    p.add_argument("--to", metavar="FORMATS",
                   help="formats to render beside the score: midi,musicxml,svg,wav; '' for none "
                        "(default midi, and wav where FluidSynth is installed)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--models", action="append", metavar="DIR", help="another folder of models (may repeat)")
    p.set_defaults(func=cmd_compose)

    p = sub.add_parser("render", help="render pieces to MIDI, MusicXML, sheet music (SVG) and audio (WAV)",
                       description="Render ABC (books or single tunes), **kern, MusicXML or MIDI files. Each piece "
                                   "is rendered in a worker process: a renderer that crashes or hangs gives an "
                                   "error for that piece and the rest goes on. Exit status 1 if any failed.")
    p.add_argument("files", nargs="+", help=".abc, .krn, .musicxml/.xml/.mxl or .mid files")
    p.add_argument("--to", default="midi,musicxml,svg,wav",
                   help="comma-separated: midi, musicxml, svg, wav (default all; wav needs FluidSynth)")
    p.add_argument("-o", "--out", default="out", help="folder for the rendered files (default ./out)")
    p.add_argument("--timeout", type=float, default=60, help="seconds one piece may take per format (default 60)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("check", help="judge pieces: parse, bar lengths, abc2midi, figures",
                       description="Valid means: music21 parses it into at least one note, no bar is longer or "
                                   "shorter than its time signature (pickups, repeats and first/second endings "
                                   "read as musicians read them) and, for ABC, abc2midi reports no error. "
                                   "Exit status 1 if any piece is invalid.")
    p.add_argument("files", nargs="+", help=".abc (every tune of a book), .krn, .musicxml/.xml/.mxl or .mid files")
    p.add_argument("--json", action="store_true", help="one JSON object per piece on stdout")
    p.add_argument("--timeout", type=float, default=60, help="seconds one piece may take (default 60)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("models", help="list the models tunesmith finds by name, with their cards",
                       description="Models are found by name in: --models DIR, $TUNESMITH_MODELS, "
                                   "~/.local/share/tunesmith/models, and the models shipped in the package "
                                   "(first match wins). 'tunesmith sample NAME' uses them.")
    p.add_argument("name", nargs="?", help="show this model's whole card")
    p.add_argument("--models", action="append", metavar="DIR", help="another folder of models (may repeat)")
    p.add_argument("--json", action="store_true", help="one JSON list on stdout (with NAME: its entry)")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("export", help="copy a run's chosen checkpoint into a model folder to share or ship",
                       description="Copy the checkpoint a run recommends (select.json, else best) into a new "
                                   "model folder, with its card and corpus index; --half stores the weights "
                                   "in fp16, half the size.")
    p.add_argument("run", help="a training run folder or a model folder")
    p.add_argument("--out", required=True, help="the model folder to create (its name is the model's name)")
    p.add_argument("--half", action="store_true", help="store the weights in fp16 (sampling still computes in fp32)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serve", help="the composer web app: pick a style, press Compose, see and hear the piece",
                       description="Serve the composer page and its JSON API (/api, docs at /api/docs) with the "
                                   "models 'tunesmith models' lists. Listens on this machine only unless --host "
                                   "says otherwise; the app has no login.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--models", action="append", metavar="DIR", help="another folder of models (may repeat)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("evaluate", help="held-out loss of a model on any files its codec reads",
                       description="Negative log-likelihood in bits per token (and per character for text "
                                   "models) and next-token accuracy, every piece from the start: the same "
                                   "computation as training's validation, so a model's own validation pieces "
                                   "give its validation figure.")
    p.add_argument("model", help="model folder, or a run folder (its best checkpoint)")
    p.add_argument("--data", nargs="+", required=True, help="files, folders, globs or a named corpus")
    p.add_argument("--style", help="score the pieces as this style (models trained on several)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda or cuda:N")
    p.set_defaults(func=cmd_evaluate)

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
    p.set_defaults(func=cmd_judge)

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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
