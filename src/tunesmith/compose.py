"""Composing with a model: sample, keep the pieces that pass, write files a person opens.

One path for `tunesmith sample`, `tunesmith compose` and the web app:

    options (flags, or a model card's measured defaults)
      -> sample in batches (sample.generate / generate_valid)
      -> judge each piece: `check` (--valid-only) and the copy guard (--max-copy)
      -> write complete files (sample.write), render MIDI/WAV/... (render.render)

A shipped model's card holds the settings its figures were measured with
(`card["compose"]`): `tunesmith compose` uses them unless a flag says otherwise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable

from tunesmith import TunesmithError, log

DEFAULT_MODEL = "folk"
CARD_KEY = "compose"      # the card's section of measured compose defaults


@dataclass
class Options:
    """What shapes the pieces. Defaults are `tunesmith sample`'s; `compose` starts from the card's."""
    n: int = 1
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    primer: str = ""
    max_length: int = 3000
    style: str | None = None
    key: str | None = None
    seed: int | None = None
    valid_only: bool = False
    max_copy: str = "auto"       # N, auto (the default N where the model has the corpus index) or off
    tries: int = 5
    precision: str = "auto"


# what a card may set, and the JSON types it may set them to
TUNABLE = {"temperature": (int, float), "top_k": int, "top_p": (int, float), "primer": str, "max_length": int,
           "valid_only": bool, "max_copy": str, "tries": int}


def card_defaults(card: dict) -> Options:
    """The compose defaults a model's card records; fields it does not name keep `compose`'s own
    (valid-only and the copy guard on)."""
    base = Options(valid_only=True)
    saved = card.get(CARD_KEY) if isinstance(card, dict) else None
    if not isinstance(saved, dict):
        return base
    values = {}
    for name, expected in TUNABLE.items():
        if name not in saved:
            continue
        value = saved[name]
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise TunesmithError(f"the model card's {CARD_KEY}.{name} is {value!r}, which is not of the right type")
        values[name] = value
    return replace(base, **values)


def max_copy_notes(value: str) -> int | None:
    """--max-copy N|auto|off as a number of notes (None: off)."""
    from tunesmith.evaluate.novelty import DEFAULT_MAX_COPY

    if value == "off":
        return None
    if value == "auto":
        return DEFAULT_MAX_COPY
    try:
        n = int(value)
    except ValueError:
        raise TunesmithError(f"--max-copy must be a number of notes, auto or off, not {value!r}") from None
    if not 1 <= n <= 10000:
        raise TunesmithError(f"--max-copy must be between 1 and 10000 notes, not {n}")
    return n


def make_judge(loaded, valid_only: bool, max_copy: str, worker=None
               ) -> Callable[[list[str]], list[str | None]] | None:
    """What sampling re-samples for: failing `check` (valid_only), copying the training corpus
    (more than max_copy notes in a row, where the bundle holds the corpus index). None: keep all.
    `worker`: a running render.Worker for the check (else each round starts one); the check's
    worker also reads each piece's melody for the copy guard, so music21 never runs here."""
    from tunesmith import check
    from tunesmith.evaluate.novelty import INDEX_FILE, NoveltyIndex

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
        verdicts: list[str | None] = [None] * len(texts)
        for i, report in enumerate(reports):
            if valid_only and not report.valid:
                verdicts[i] = "failed the check"
            elif index is not None and report.melody:
                if index.longest_match(report.melody).length > limit:
                    verdicts[i] = f"more than {limit} notes in a row from the corpus"
        return verdicts

    return judge


@dataclass
class Outcome:
    pieces: list            # sample.Sampled, n of them: the kept ones first, then (when short) rejected ones
    seed: int
    sampled: int            # pieces sampled in all
    rounds: int
    rejected: Counter = field(default_factory=Counter)   # reason -> how many sampled pieces it discarded
    failed: int = 0         # pieces among `pieces` that did not pass (the tries ran out)


def validate(loaded, options: Options) -> None:
    """Every option checked before any work: one clear sentence for the first that is wrong."""
    from tunesmith import sample
    from tunesmith.corpus.scores import parse_key

    sample.check_options(options.n, options.temperature, options.top_k, options.top_p, options.max_length)
    if not 1 <= options.tries <= 100:
        raise TunesmithError(f"--tries must be between 1 and 100, not {options.tries}")
    if options.precision not in ("auto", "fp32", "bf16"):
        raise TunesmithError(f"--precision must be auto, fp32 or bf16, not {options.precision!r}")
    max_copy_notes(options.max_copy)
    if options.style is not None:
        loaded.codec.style_id(options.style)
    if options.key is not None:
        if loaded.codec.kind != "events":
            raise TunesmithError(f"--key moves note-event models' pieces; this model writes {loaded.codec.format} text")
        parse_key(options.key)


def run(loaded, options: Options, device="cpu", worker=None) -> Outcome:
    """Sample options.n pieces with a loaded bundle, re-sampling those the judge rejects.
    `worker`: a running render.Worker to check pieces with (start it early: it imports music21
    while the model samples)."""
    from tunesmith import sample

    validate(loaded, options)
    seed = options.seed if options.seed is not None else sample.new_seed()
    kwargs = dict(temperature=options.temperature, top_k=options.top_k, top_p=options.top_p,
                  primer=options.primer, max_length=options.max_length, device=device, style=options.style,
                  precision=options.precision)
    judge = make_judge(loaded, options.valid_only, options.max_copy, worker)
    if judge is None:
        pieces = sample.generate(loaded.model, loaded.codec, n=options.n, seed=seed, **kwargs)
        return Outcome(pieces, seed, len(pieces), 1)
    kept, rejected, sampled, rounds = sample.generate_valid(
        loaded.model, loaded.codec, options.n, judge, rounds=options.tries, seed=seed, key=options.key, **kwargs)
    reasons = Counter(why for _, why in rejected)
    short = options.n - len(kept)
    outcome = Outcome(kept + [p for p, _ in rejected[:short]], seed, sampled, rounds, reasons, short)
    log.info(f"kept {len(kept)} of {sampled} sampled in {rounds} {'try' if rounds == 1 else 'tries'}"
             + "".join(f"; {count} discarded: {why}" for why, count in reasons.items()))
    if short:
        log.warn(f"only {len(kept)} of {options.n} pieces passed within --tries {options.tries}; "
                 f"the last {short} written did not ({', '.join(sorted(reasons))})")
    return outcome
