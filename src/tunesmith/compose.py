"""Composing with a model: sample, keep the pieces that pass, write files a person opens.

The one path for `tunesmith sample`, `tunesmith compose`, the web app and the benchmarks:

    options (flags, API fields, or a model card's measured defaults: `SampleOptions`)
      -> sample in batches (sample.generate / generate_valid)
      -> the verdict on each piece (evaluate/verdict.py): `check` (valid_only) and the copy guard
      -> write complete files (sample.write), render MIDI/WAV/... (render.render)

`compose()` does all of it and returns what was kept and why the rest was
dropped; `run()` is the sampling half. A shipped model's card holds the
settings its figures were measured with (`card["compose"]`): `tunesmith
compose` uses them unless a flag says otherwise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tunesmith import TunesmithError, check, log, render, sample, settings
from tunesmith.bundle import Bundle
from tunesmith.evaluate.novelty import INDEX_FILE, NoveltyIndex
from tunesmith.evaluate.texture import COPY_BARS, TextureGuard
from tunesmith.evaluate.verdict import judge_report
from tunesmith.options import (CARD_KEY, DEFAULT_MODEL, TUNABLE, Options, SampleOptions, asked_controls,  # noqa: F401
                               card_defaults, check_controls, max_copy_notes)
from tunesmith.worker import using

def make_judge(loaded: Bundle, valid_only: bool, max_copy: str, worker=None
               ) -> Callable[[list[str]], list[str | None]] | None:
    """What sampling re-samples for: failing `check` (valid_only), copying the training corpus
    (more than max_copy notes in a row, where the bundle holds the corpus index). None: keep all.
    `worker`: a running render worker for the check (else each round starts one); the check's
    worker also reads each piece's melody for the copy guard, so music21 never runs here."""
    limit = max_copy_notes(max_copy)
    index = None
    if limit is not None and loaded.path is not None:
        if (loaded.path / INDEX_FILE).exists():
            index = NoveltyIndex.load(loaded.path)
        elif max_copy != "auto":
            raise TunesmithError(f"--max-copy needs the index of the training corpus, which {loaded.path} lacks "
                                 f"(trained with --no-copy-index or by an older tunesmith)")
    if not valid_only and index is None:
        return None
    extension = loaded.codec.extension

    def judge(texts: list[str]) -> list[str | None]:
        reports = check.check_texts(texts, extension, worker=worker)
        return [judge_report(report, index, limit).reason(valid_only) for report in reports]

    return judge


def make_screen(loaded: Bundle, max_copy: str) -> Callable | None:
    """The copy guard on whole textures (every voice, evaluate/texture.py), where the bundle has its
    corpus's textures and the copy guard is on: a sampled piece → None, or why it is rejected."""
    if max_copy_notes(max_copy) is None or loaded.path is None:
        return None
    guard = TextureGuard.load(loaded.path)
    if guard is None:
        return None
    reason = f"more than {COPY_BARS} bars of every voice from the corpus"

    def screen(piece) -> str | None:
        grid = loaded.codec.grid_piece(piece.text)
        return reason if grid is not None and guard.copies(grid) else None

    return screen


@dataclass
class Outcome:
    pieces: list            # sample.Sampled, n of them: the kept ones first, then (when short) rejected ones
    seed: int
    sampled: int            # pieces sampled in all
    rounds: int
    rejected: Counter = field(default_factory=Counter)   # reason -> how many sampled pieces it discarded
    failed: int = 0         # pieces among `pieces` that did not pass (the tries ran out)


def validate(loaded: Bundle, options: SampleOptions) -> None:
    """Every option checked before any work: one clear sentence for the first that is wrong."""
    settings.check(options)
    if options.style is not None:
        loaded.codec.style_id(options.style)
    check_controls(loaded.codec, options)     # --meter/--key/--mode/--rhythm, and --key of note-event models


def run(loaded: Bundle, options: SampleOptions, device="cpu", worker=None,
        finish: sample.Finish | None = None) -> Outcome:
    """Sample options.n pieces with a loaded bundle, re-sampling those the judge rejects.
    `worker`: a running render worker to check pieces with (start it early: it imports music21
    while the model samples). `finish`: how a piece becomes the file judged (default the codec's)."""
    validate(loaded, options)
    return _sample(loaded, options, device, worker, finish)


def _sample(loaded: Bundle, options: SampleOptions, device, worker, finish=None) -> Outcome:
    """`run` with options already validated."""
    seed = options.seed if options.seed is not None else sample.new_seed()
    kwargs = dict(temperature=options.temperature, top_k=options.top_k, top_p=options.top_p,
                  primer=options.primer, max_length=options.max_length, device=device, style=options.style,
                  precision=options.precision, controls=asked_controls(loaded.codec, options),
                  constrain=options.constrain)
    judge = make_judge(loaded, options.valid_only, options.max_copy, worker)
    screen = make_screen(loaded, options.max_copy)
    if judge is None and screen is None:
        pieces = sample.generate(loaded.model, loaded.codec, n=options.n, seed=seed, **kwargs)
        return Outcome(pieces, seed, len(pieces), 1)
    kept, rejected, sampled, rounds = sample.generate_valid(
        loaded.model, loaded.codec, options.n, judge, rounds=options.tries,
        seed=seed, key=options.key, finish=finish, screen=screen, **kwargs)
    reasons = Counter(why for _, why in rejected)
    short = options.n - len(kept)
    outcome = Outcome(kept + [p for p, _ in rejected[:short]], seed, sampled, rounds, reasons, short)
    log.info(f"kept {len(kept)} of {sampled} sampled in {rounds} {'try' if rounds == 1 else 'tries'}"
             + "".join(f"; {count} discarded: {why}" for why, count in reasons.items()))
    if short:
        log.warn(f"only {len(kept)} of {options.n} pieces passed within --tries {options.tries}; "
                 f"the last {short} written did not ({', '.join(sorted(reasons))})")
    return outcome


@dataclass
class Composed:
    """What `compose` made: the sampling outcome, the files written and what was rendered from them."""

    outcome: Outcome
    paths: list[Path]
    rendered: list = field(default_factory=list)     # render.Result per written file

    @property
    def kept(self) -> int:
        return len(self.outcome.pieces) - self.outcome.failed

    @property
    def dropped(self) -> Counter:
        """Why sampled pieces were not kept: reason -> how many."""
        return self.outcome.rejected

    def passed(self, k: int) -> bool:
        """Whether the k-th written piece passed the verdict."""
        return k < self.kept


def compose(loaded: Bundle, options: SampleOptions, out_dir: str | Path, *, stem: str = "piece",
            formats: list[str] | tuple[str, ...] = (), device="cpu", worker=None, render_timeout: float = 60.0,
            show_progress: bool | None = None, stop: Callable[[], bool] | None = None,
            finish: sample.Finish | None = None) -> Composed:
    """Sample → verdict → write → render: options.n pieces of `loaded` into `out_dir` as STEM-NNN files
    (numbered after those there), each rendered to `formats`. One render worker checks and renders
    (`worker`, else one started here, early, so it imports music21 while the model samples).
    `stop()` true after sampling: nothing is written (the caller gave up waiting). `finish`: how a
    sampled piece becomes its file (default the codec's; `continuation` keeps a user's tune as written)."""
    validate(loaded, options)
    with using(worker, render_timeout) as active:
        if options.valid_only or formats:
            active.start()
        outcome = _sample(loaded, options, device, active, finish)
        if stop is not None and stop():
            return Composed(outcome, [])
        paths = sample.write(outcome.pieces, loaded.codec, out_dir, stem=stem, key=options.key, finish=finish)
        results = []
        if formats:
            progress = len(paths) > 1 if show_progress is None else show_progress
            results = render.render(paths, list(formats), out_dir, timeout=render_timeout, show_progress=progress,
                                    worker=active)
    return Composed(outcome, paths, results)

