"""Grid codec: polyphonic music on a time grid, one step at a time (see notation/grid.py).

A piece's tokens are

    <s> [<style:NAME>] M:4/4 K:G  / n67 n62 h59 n43 _  h67 n64 h59 n45 _ ... </s>

a header (metre and key, for scores that have them), then per step of the grid: a bar token `/`
where a bar starts, a fermata `^` where a note with a fermata starts, the step's pitches, and the
step token `_`. A pitch is `n60` where it starts, `h60` where it is held from the step before, or,
without onsets (`--no-onsets`, the benchmark's plain roll), `p60` either way. Layouts:

- `pitch`: the sounding pitches, highest first, each once;
- `voices`: one slot per voice (`r` a rest), the voices in score order, their count a header token
  `V:4`; voices keep their identity.

Inside a step the order is canonical, so a roll and its tokens are one to one and the likelihood
of a step (its tokens' sum, the step token included) is exact: `evaluate` reports it in nats per
frame. The decoding constraint (`GridConstraint`) keeps that order while sampling and puts each
bar token exactly one bar after the last, so bars are aligned by construction.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from tunesmith import TunesmithError
from tunesmith.codecs import saved
from tunesmith.codecs.base import Codec, CodecOptions, Piece, augment_shifts, register_codec
from tunesmith.notation import grid as g, grid_scores
from tunesmith.notation.grid import HELD, REST, GridPiece, grid_quarters

STEP, BAR, FERMATA, SILENT = "_", "/", "^", "r"
LAYOUTS = ("pitch", "voices", "intervals")


@register_codec
class GridCodec(Codec):
    kind = "grid"
    extension = ".musicxml"
    default_formats = ("midi",)
    text_output = False
    can_transpose = True
    loss_unit = "frame"
    STEP, BAR, FERMATA, SILENT = STEP, BAR, FERMATA, SILENT   # the grammar reads them from the codec

    def __init__(self, words: Sequence[str], grid: str = "1/4", layout: str = "pitch", onsets: bool = True,
                 styles: Sequence[str] = (), voices: int = 4, unk: bool = False, split: str | None = None,
                 names: Sequence[str] | None = None):
        if layout not in LAYOUTS:
            raise TunesmithError(f"--layout must be {', '.join(LAYOUTS)}, not {layout!r}")
        self.grid = grid              # quarter lengths per step
        self.layout = layout
        self.onsets = onsets
        self.voices = voices          # voices a sampled piece is written in (pitch layout: by rank)
        self.split = split
        # the voices' names (and so their instruments and clefs): the corpus's most common, else by count
        self.names = list(names) if names and len(names) == voices else None
        self.words = list(words)
        self._init_symbols(styles, self.words, unk)

    @property
    def format(self) -> str:
        return "grid"

    @property
    def source_format(self) -> str:
        return "musicxml"

    # ---- reading ------------------------------------------------------------------------------

    @classmethod
    def reader_for(cls, formats: set[str], chosen: bool) -> str | None:
        if formats == {"roll"}:
            return "roll"
        if "roll" in formats:
            raise TunesmithError("a corpus is either roll JSON files or scores, not both")
        return "scores" if chosen else None

    @classmethod
    def read_files(cls, files: list[Path], reader: str, options: CodecOptions, show_progress: bool = True
                   ) -> tuple[list[tuple[str, list[Piece]]], list[tuple[str, str]]]:
        step = grid_quarters(options.grid)
        found, skipped = [], []
        if reader == "roll":
            for path in files:
                try:
                    pieces = g.read_roll(path, options.split, step)
                except ValueError as exc:
                    skipped.append((str(path), str(exc)))
                    continue
                found.append((str(path), [cls._piece(p) for p in pieces]))
        else:
            read, skipped = grid_scores.read_scores(files, step, options.layout == "voices", show_progress)
            found = [(path, [cls._piece(p) for p in pieces]) for path, pieces in read.items()]
        if options.transpose:
            found = [(f, [cls._piece(cls._in_key(GridPiece.from_json(p.meta["grid"]), options.transpose))
                          for p in pieces]) for f, pieces in found]
        return found, skipped

    @staticmethod
    def _in_key(piece: GridPiece, key: str) -> GridPiece:
        from tunesmith.notation.parts import parse_key, shift_between
        if not piece.key:
            raise TunesmithError(f"{piece.name} has no key to move from (a roll): drop --transpose")
        tonic, mode = parse_key(piece.key)
        return piece.transposed(shift_between(tonic, mode, parse_key(key)))

    @staticmethod
    def _piece(piece: GridPiece) -> Piece:
        return Piece(piece.name, f"{piece.grid} {piece.meter} {piece.key} {piece.pickup} {piece.steps}", "grid",
                     {"grid": piece.to_json()})

    @classmethod
    def augment(cls, pieces: list[Piece], copies: int) -> list[Piece]:
        shifts = augment_shifts(copies)
        out = []
        for piece in pieces:
            grid = GridPiece.from_json(piece.meta["grid"])
            for shift in shifts:
                moved = grid.transposed(shift)
                if moved.fits():
                    moved.name = f"{piece.name}@{shift:+d}"
                    out.append(Piece(moved.name, cls._piece(moved).text, "grid", {**piece.meta,
                                                                                   "grid": moved.to_json()}))
        return out

    @classmethod
    def melodies(cls, pieces: list[Piece], files: list[str]) -> list[tuple[str, list]]:
        return [(p.name, GridPiece.from_json(p.meta["grid"]).top_line()) for p in pieces]

    @classmethod
    def texture_guard(cls, pieces: list[Piece]):
        from tunesmith.evaluate.texture import TextureGuard
        return TextureGuard.from_pieces([GridPiece.from_json(p.meta["grid"]) for p in pieces])

    def grid_roles(self) -> list[float] | None:     # None for intervals: its tokens are distances
        return None if self.layout == "intervals" else [
            -2.0 if s == STEP else float(s[1:]) if s[:1] in "pnh" and s[1:].isdigit() else -1.0 for s in self.symbols]

    @classmethod
    def label(cls, fmt: str) -> str:
        return "steps of a time grid"

    @classmethod
    def length(cls, piece: Piece) -> tuple[int, str]:
        return len(piece.meta["grid"]["steps"]), "steps"

    def reading(self) -> CodecOptions:
        return CodecOptions(codec=self.kind, grid=str(Fraction(self.grid) / 4), layout=self.layout,
                            onsets=self.onsets, split=self.split)

    def units(self, piece: Piece) -> int:
        return len(piece.meta["grid"]["steps"])

    def check_key(self, key: str) -> None:
        from tunesmith.notation.parts import parse_key
        parse_key(key)

    # ---- grid → words -----------------------------------------------------------------------

    def _pitch_word(self, entry: int) -> str:
        if entry == REST:
            return SILENT
        if not self.onsets:
            return f"p{g.pitch_of(entry)}"
        return f"{'h' if entry >= HELD else 'n'}{g.pitch_of(entry)}"

    def words_of(self, piece: GridPiece) -> list[str]:
        words = []
        if piece.meter:
            words.append(f"M:{piece.meter}")
        if piece.key:
            words.append(f"K:{piece.key}")
        voiced = self.layout == "voices" and piece.voices
        if self.layout == "voices":
            words.append(f"V:{len(piece.voices) if piece.voices else self.voices}")
        bar = piece.bar_steps()
        fermatas = set(piece.fermatas)
        # a piece without voices in a voices model: split once, so a held note keeps its voice
        split = list(zip(*g.voice_lines(piece, self.voices))) if self.layout == "voices" and not voiced else None
        for i, step in enumerate(piece.steps):
            if bar and (i - piece.pickup) % bar == 0:
                words.append(BAR)
            if i in fermatas:
                words.append(FERMATA)
            if voiced:
                words += [self._pitch_word(e) for e in step]
            elif split is not None:
                words += [self._pitch_word(e) for e in split[i]]
            else:
                above = None
                for e in sorted(step, key=g.pitch_of, reverse=True):
                    if e != REST and g.pitch_of(e) != above:
                        word = self._pitch_word(e)
                        if self.layout == "intervals" and above is not None:   # the distance down from above
                            word = f"{word[0]}-{above - g.pitch_of(e)}"
                        words.append(word)
                        above = g.pitch_of(e)
            words.append(STEP)
        return words

    @classmethod
    def fit(cls, pieces: Sequence[Piece], options: CodecOptions | None = None, styles: Sequence[str] = ()
            ) -> "GridCodec":
        given = options or CodecOptions(codec="grid")
        if not pieces:
            raise TunesmithError("cannot learn a vocabulary from no pieces")
        grids = [GridPiece.from_json(p.meta["grid"]) for p in pieces]
        steps = {gp.grid for gp in grids}
        if len(steps) != 1:
            raise TunesmithError(f"the pieces are on different grids ({', '.join(sorted(steps))})")
        voices = Counter(len(gp.voices) if gp.voices else max((len(s) for s in gp.steps), default=1)
                         for gp in grids).most_common(1)[0][0]
        named = Counter(tuple(gp.voices) for gp in grids if gp.voices and len(gp.voices) == voices)
        names = list(named.most_common(1)[0][0]) if named and given.layout == "voices" else None
        probe = cls([], steps.pop(), given.layout, given.onsets, voices=voices)
        counts: Counter = Counter()
        for gp in grids:
            counts.update(probe.words_of(gp))
        # every pitch of the 88 keys in each kind, so a transposed or new piece is never unknown
        kinds = ["p"] if not given.onsets else ["n", "h"]
        counts.update({f"{k}{p}": 0 for k in kinds for p in range(g.LOWEST, g.HIGHEST + 1)})
        if given.layout == "intervals":
            counts.update({f"{k}-{d}": 0 for k in kinds for d in range(1, g.HIGHEST - g.LOWEST + 1)})
        counts.update({STEP: 0})
        rare = {w for w, n in counts.items() if 0 < n < given.unk_min_count and not w.lstrip("nhp-").isdigit()}
        words = sorted(set(counts) - rare, key=_order)
        return cls(words, probe.grid, given.layout, given.onsets, styles, voices, unk=bool(rare),
                   split=given.split, names=names)

    def encode(self, piece: Piece) -> np.ndarray:
        words = self.words_of(GridPiece.from_json(piece.meta["grid"]))
        if self.unk_id is None:
            unknown = sorted({w for w in words if w not in self.index})
            if unknown:
                raise TunesmithError(f"piece {piece.name} has words this model never saw: {', '.join(unknown[:5])}")
        return self._frame(self.with_unk(words), piece.meta.get("style"), end=True)

    def encode_primer(self, primer: str, style: str | None = None) -> np.ndarray:
        unknown = [w for w in primer.split() if w not in self.index]
        if unknown:
            raise TunesmithError(f"the primer has words this model does not know: {', '.join(unknown[:5])}")
        return self._frame([self.index[w] for w in primer.split()], style, end=False)

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self.symbols[i] for i in ids if i >= self.first_word)

    # ---- words → score -----------------------------------------------------------------------

    def piece_of(self, text: str, name: str = "sample") -> GridPiece:
        """Decoded words → a grid piece (words out of place are left out)."""
        meter = key = None
        count = None
        steps, step, fermatas, first_bar = [], [], [], None
        for word in text.split():
            if word.startswith("M:") and not steps and not step:
                meter = word[2:]
            elif word.startswith("K:") and not steps and not step:
                key = word[2:]
            elif word.startswith("V:") and word[2:].isdigit():
                count = int(word[2:])
            elif word == BAR:
                first_bar = len(steps) if first_bar is None else first_bar
            elif word == FERMATA:
                fermatas.append(len(steps))
            elif word == STEP:
                steps.append(step)
                step = []
            elif word == SILENT:
                step.append(REST)
            elif word[:1] in "nhp" and word[1:].isdigit() and 0 <= int(word[1:]) <= 127:
                step.append(HELD + int(word[1:]) if word[0] == "h" else int(word[1:]))
            elif word[:1] in "nhp" and word[1:2] == "-" and word[2:].isdigit() and step:
                pitch = g.pitch_of(step[-1]) - int(word[2:])      # an interval down from the pitch above
                if 0 <= pitch <= 127:
                    step.append(HELD + pitch if word[0] == "h" else pitch)
        if not self.onsets:       # a plain roll: a pitch in the step before is held
            steps = [[HELD + g.pitch_of(e) if e != REST and g.pitch_of(e) in
                      {g.pitch_of(x) for x in (steps[i - 1] if i else []) if x != REST} else e for e in s]
                     for i, s in enumerate(steps)]
        voices = None
        if self.layout == "voices":
            count = count or self.voices
            steps = [(s + [REST] * count)[:count] for s in steps]
            voices = (self.names if count == self.voices else None) or g.VOICE_NAMES.get(count) or \
                [f"Voice {v + 1}" for v in range(count)]
        bar = g.steps_per_bar(meter, Fraction(self.grid)) if meter else None
        pickup = first_bar % bar if bar and first_bar is not None else 0
        return GridPiece(name, self.grid, steps, voices, meter if bar else None, key, pickup, fermatas)

    grid_piece = piece_of             # the texture copy guard's reading of a sampled text

    def finish(self, text: str, number: int, key: str | None = None) -> str:
        """MusicXML, one part per voice: written directly (notation/grid_xml.py), or by music21 for a
        grid it does not take (triplets)."""
        from tunesmith.notation import grid_xml

        piece = self.piece_of(text)
        if key is not None and piece.key:
            piece = self._in_key(piece, key)
        voices = None if piece.voices else self.voices
        if grid_xml.writes(piece):
            return grid_xml.to_musicxml(piece, f"tunesmith {number}", voices)
        from music21.musicxml.m21ToXml import GeneralObjectExporter
        return GeneralObjectExporter(g.to_score(piece, f"tunesmith {number}", voices)).parse().decode("utf-8")

    def constraint(self, controls: dict[str, str] | None = None):
        """The grid grammar with its controls (grid_constraint.py): {"melody": words} (see
        `harmony_request`) forces the top voice, {"voice_leading": "strict"} forbids parallel fifths and
        octaves, {"bars": "16"} makes the piece 16 full bars."""
        from tunesmith.codecs.grid_constraint import grammar
        rest = dict(controls or {})
        taken = {k: rest.pop(k) for k in ("melody", "voice_leading", "bars") if k in rest}
        super().constraint(rest)          # refuses any other
        return grammar(self, taken)

    def check_controls(self, controls: dict[str, str]) -> None:
        """--voice-leading strict|free (a model whose steps keep their voices) and --bars N; no header
        controls."""
        from tunesmith.codecs.grid_constraint import check_controls
        rest = dict(controls)
        check_controls(self, {k: rest.pop(k) for k in ("voice_leading", "bars") if k in rest})
        super().check_controls(rest)

    def harmony_request(self, melody: GridPiece) -> tuple[str, dict[str, str], int]:
        """A one-voice melody → (the primer: its metre and key, and the model's voices; the control that
        forces the top voice; the tokens the harmonized piece takes). Refuses a model that cannot."""
        if self.layout != "voices":
            raise TunesmithError("harmonizing needs a model whose steps keep their voices (trained with "
                                 "--layout voices)")
        if melody.grid != self.grid:
            raise TunesmithError(f"the melody is on a grid of {melody.grid} quarter, the model's of {self.grid}")
        head = []
        if melody.meter:
            if f"M:{melody.meter}" not in self.index:
                known = ", ".join(w[2:] for w in self.words if w.startswith("M:"))
                raise TunesmithError(f"the model knows no metre {melody.meter} (it knows: {known})")
            head.append(f"M:{melody.meter}")
        if melody.key and f"K:{melody.key}" in self.index:
            head.append(f"K:{melody.key}")
        head.append(f"V:{self.voices}")
        if head[-1] not in self.index:
            raise TunesmithError(f"the model has no {self.voices}-voice header")
        one = GridCodec([], self.grid, "voices", self.onsets, voices=1)
        words = [w for w in one.words_of(melody) if w[:2] not in ("M:", "K:", "V:")]
        unknown = sorted({w for w in words if w not in self.index})
        if unknown:
            raise TunesmithError(f"the melody has notes the model does not know: {', '.join(unknown[:5])}")
        length = len(head) + len(words) + len(melody.steps) * (self.voices - 1) + 2
        return " ".join(head), {"melody": " ".join(words)}, length


    def to_json(self) -> dict:
        data = {"kind": self.kind, "grid": self.grid, "layout": self.layout, "onsets": self.onsets,
                "voices": self.voices, "split": self.split, "styles": self.styles, "words": self.words}
        if self.unk_id is not None:
            data["unk"] = True
        if self.names:
            data["names"] = self.names
        return data

    @classmethod
    def from_json(cls, data: dict) -> "GridCodec":
        grid = saved.entry(data, "grid", "string")
        try:
            grid_quarters(str(Fraction(grid) / 4))
        except (TunesmithError, ValueError, ZeroDivisionError):
            raise saved.wrong("grid", "a step length in quarters such as 1/4", grid) from None
        layout = saved.entry(data, "layout", "string", "pitch")
        if layout not in LAYOUTS:
            raise saved.wrong("layout", "pitch, voices or intervals", layout)
        voices = saved.entry(data, "voices", "number", 4)
        if not (isinstance(voices, int) and 1 <= voices <= 16):
            raise saved.wrong("voices", "a whole number from 1 to 16", voices)
        names = saved.entry(data, "names", "strings", None)
        if names is not None and len(names) != voices:
            raise saved.wrong("names", f"{voices} voice names", names)
        return cls(saved.entry(data, "words", "distinct strings"), grid, layout,
                   saved.entry(data, "onsets", "boolean", True), saved.entry(data, "styles", "distinct strings", []),
                   voices, saved.entry(data, "unk", "boolean", False), saved.entry(data, "split", "string or null", None),
                   names)


def _order(word: str) -> tuple:
    """Vocabulary order: header words, marks, then pitches by kind and height, then intervals."""
    if word[:1] in "nhp" and word[1:].isdigit():
        return (2, word[0], int(word[1:]))
    if word[:1] in "nhp" and word[1:2] == "-" and word[2:].isdigit():
        return (3, word[0], int(word[2:]))
    return (1 if word in (STEP, BAR, FERMATA, SILENT) else 0, word, 0)


__all__ = ["GridCodec"]
