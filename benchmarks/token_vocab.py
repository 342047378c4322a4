"""Does a token-level ABC vocabulary learn better than characters on books the model never saw?

Issue 17 asks to try what the field uses against held-out books, a token-level vocabulary among
them (folk-rnn: pitch and length as separate tokens, bar lines and header lines as one token each).
This trains the README-default model with the character codec's reading (one unit note length,
the same header fields) but a vocabulary of tokens, on the corpus minus the held-out books, for the
same number of steps, and scores the held-out books in bits per character of the tunes as read and as
written: the same total of bits over the same characters, so it compares with `tunesmith evaluate`
of a character model.

    python benchmarks/token_vocab.py --corpus ../shared/data/nottingham-abc \\
        --valid-books ashover.abc hpps.abc --steps 5700 --out runs/books-tokens

The codec lives in this file, registered as `abc-tokens` while it runs: a run it trains is read back
by this script only (`--evaluate-only RUN`). Tokens: a header line the corpus has at least
`MIN_COUNT` times (`M:6/8`, `K:G`, `R:reel`) with its line end, else its field letter and colon then
characters; in the body a pitch with its accidentals and octave marks (`^c'`), a length (`3/2`, `/2`),
a bar line (`:|`, `|1`), a tuplet mark (`(3`), a chord symbol or decoration the corpus has often
enough; every other character on its own. Sampling under the grammar steps each token's characters.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from tunesmith import TunesmithError
from tunesmith.codecs import saved
from tunesmith.codecs.base import CodecOptions, Piece, register_codec
from tunesmith.codecs.chars import CharCodec, _unit

MIN_COUNT = 3

_TOKEN = re.compile(r"""
    (?P<head>^[A-Za-z]:[^\n]*\n)            # a field line, with its line end
  | (?P<note>[\^=_]{1,2}[A-Ga-g][,']* | [A-Ga-g][,']+)   # a pitch with accidentals or octave marks
  | (?P<length>\d+/\d* | /+\d* | \d{2,})   # a length more than one digit or slash
  | (?P<bar>:\|\] | :\|\| | \|\] | \[\| | \|\| | \|: | :\|[12]? | :: | \|[12] | \[[12])
  | (?P<tuplet>\(\d)
  | (?P<quote>"[^"\n]{0,12}")
  | (?P<bang>![a-z]+!)
""", re.VERBOSE | re.MULTILINE)


def split(text: str) -> list[str]:
    """The text's tokens before any vocabulary: the pattern's matches, every other character alone."""
    out, at = [], 0
    for m in _TOKEN.finditer(text):
        out.extend(text[at:m.start()])
        out.append(m.group())
        at = m.end()
    out.extend(text[at:])
    return out


def fallback(token: str) -> list[str]:
    """A token the vocabulary lacks: a field line as its letter and colon then characters, else characters."""
    if len(token) > 2 and token[1] == ":" and token.endswith("\n"):
        return [token[:2], *token[2:]]
    return list(token)


@register_codec
class AbcTokenCodec(CharCodec):
    kind = "abc-tokens"

    def __init__(self, fmt: str, tokens: Sequence[str], *args, **kwargs):
        super().__init__(fmt, tokens, *args, **kwargs)
        self.longest = max(len(t) for t in self.chars)

    @classmethod
    def reader_for(cls, formats: set[str], chosen: bool) -> str | None:
        if not chosen:
            return None
        if formats != {"abc"}:
            raise TunesmithError("the token codec reads ABC only")
        return "abc"

    @classmethod
    def fit(cls, pieces: Sequence[Piece], options: CodecOptions | None = None, styles: Sequence[str] = ()
            ) -> "AbcTokenCodec":
        chars: Counter = Counter()
        tokens: Counter = Counter()
        for p in pieces:
            chars.update(p.text)
            for t in split(p.text):
                if len(t) > 1:
                    tokens[t] += 1
                    if len(t) > 2 and t[1] == ":":
                        tokens[t[:2]] += MIN_COUNT      # a field's letter and colon: always a token
        rare = cls.rare(chars, options)
        words = sorted(set(chars) - rare) + sorted(t for t, n in tokens.items() if n >= MIN_COUNT)
        base = CharCodec.fit(pieces, options, styles)
        return cls("abc", words, None, styles, unk=bool(rare), keep_fields=base.keep_fields, known=base.known,
                   unit_length=_unit(options) if options is not None else "")

    def _ids(self, text: str, what: str, unk: bool = True) -> np.ndarray:
        ids, index, unk_id = [], self.index, self.unk_id
        for t in split(text):
            for piece in ([t] if t in index else fallback(t)):
                found = index.get(piece)
                if found is None and len(piece) > 1:      # a field's letter the corpus never had
                    ids.extend(index.get(c, unk_id) for c in piece)
                    continue
                if found is None:
                    if not (unk and unk_id is not None):
                        raise TunesmithError(f"{what} has a character this model never saw: {piece!r}")
                    found = unk_id
                ids.append(found)
        if None in ids:       # (a field letter's character the vocabulary lacks, in a model without <unk>)
            raise TunesmithError(f"{what} has a character this model never saw")
        return np.array(ids, dtype=np.int32)

    def to_json(self) -> dict:
        data = super().to_json()
        data["tokens"] = data.pop("chars")
        return data

    @classmethod
    def from_json(cls, data: dict) -> "AbcTokenCodec":
        tokens = saved.entry(data, "tokens", "distinct strings")
        codec = CharCodec.from_json({**data, "chars": [t for t in tokens if len(t) == 1]})
        return cls("abc", tokens, None, codec.styles, codec.unk_id is not None, codec.keep_fields, codec.known,
                   codec.unit_length)

    def constraint(self, controls: dict[str, str] | None = None):
        rule = super().constraint(controls)
        step = rule.step

        def step_each(state, symbol: str):      # a token: its characters one after another
            for ch in symbol:
                state = step(state, ch)
                if state is None:
                    return None
            return state
        rule.step = step_each
        return rule


def main(argv: list[str] | None = None) -> int:
    from tunesmith import cli
    from tunesmith.evaluate.likelihood import evaluate

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default="../shared/data/nottingham-abc")
    ap.add_argument("--valid-books", nargs="+", default=["ashover.abc", "hpps.abc"])
    ap.add_argument("--steps", type=int, default=5700)
    ap.add_argument("--out", default="runs/books-tokens")
    ap.add_argument("--evaluate-only", action="store_true", help="score the run in --out without training")
    ap.add_argument("train_args", nargs="*", help="more `tunesmith train` flags, after --")
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        print(f"{corpus} is absent: nothing to measure", file=sys.stderr)
        return 0
    if not args.evaluate_only:
        code = cli.main(["train", "--corpus", str(corpus), "--valid-books", *args.valid_books, "--codec",
                         "abc-tokens", "--steps", str(args.steps), "--out", args.out, *args.train_args])
        if code:
            return code
    books = [str(corpus / b) for b in args.valid_books]
    result = evaluate(args.out, books, show_progress=False)
    figures = {"pieces": result.pieces, "tokens": result.tokens, "characters": result.units,
               "bits_per_token": round(result.bits_per_token, 4),
               "bits_per_character_as_read": round(result.bits_per_unit, 4),
               "bits_per_character_as_written": round(result.bits_per_written_unit or result.bits_per_unit, 4)}
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
