"""The codec interface every representation implements, its registry, and its settings.

A codec owns every decision about its representation, so nothing outside
`codecs/` asks which codec it has:

- how its corpus is read: `reader_for` (which files it reads, under which
  reader) and `read_files` (files → pieces in training shape);
- its fit options: fields of `CodecOptions` it reads in `fit`;
- `primer_kind`: "text" (a primer in training shape) or "score" (also the
  first notes of a score file);
- `default_formats`: what `sample` renders beside the file it writes;
  `source_format`, `text_output`: what that file is;
- `loss_unit` and `units(piece)`: the unit its loss is also reported in
  (characters for text);
- `can_transpose` (and `augment`): whether pieces can change key;
- `constraint()`: an optional decoding constraint (`codecs/constraint.py`);
- `unk_id`, `never_ids`: the unknown symbol `<unk>` (rare symbols left out at
  `fit`, and symbols a model never saw, in `encode`), which the sampler never
  picks. Models saved before it came have none; their ids stay as they were.

Register a codec with `@register_codec`; `kind` names it in codec.json.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from tunesmith import TunesmithError
from tunesmith.codecs import saved
from tunesmith.formats import FORMATS
from tunesmith.notation import scores
from tunesmith.notation.grid import grid_quarters
from tunesmith.settings import setting

if TYPE_CHECKING:   # for annotations only
    from tunesmith.codecs.constraint import Constraint

SPECIALS = ["<s>", "</s>"]
SHIFTS = [1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6]    # semitones of --augment's copies: N takes the first N


def augment_shifts(copies: int) -> list[int]:
    """The semitones of `--augment copies`'s copies, or a one-line error for a count out of range."""
    if not 0 <= copies <= len(SHIFTS):
        raise TunesmithError(f"--augment must be between 0 and {len(SHIFTS)}, not {copies}")
    return SHIFTS[:copies]


UNK = "<unk>"     # a symbol left out of the vocabulary (models made since it came; older ones have none)
CODECS: dict[str, type["Codec"]] = {}


def register_codec(cls: type["Codec"]) -> type["Codec"]:
    """Class decorator: make a Codec subclass known by its `kind` (codec.json, --codec)."""
    if not cls.kind:
        raise TunesmithError(f"codec class {cls.__name__} has no kind")
    CODECS[cls.kind] = cls
    return cls


def codec_names() -> tuple[str, ...]:
    return ("auto", *CODECS)


def _check_parts(value: str) -> None:
    if value in ("melody", "all") or (value.isdigit() and int(value) >= 1):
        return
    raise TunesmithError(f"--parts must be melody, all or a part number (1 = top), not {value!r}")


def _check_key(value: str | None) -> None:
    if value:
        scores.parse_key(value)


def _check_grid(value: str) -> None:
    grid_quarters(value)


def _check_fields(value: str) -> None:
    if value in ("", "all") or (value.isascii() and value.isalpha()):
        return
    raise TunesmithError(f"--keep-fields takes ABC field letters (e.g. BSZN) or all, not {value!r}")


def _check_unit(value: str) -> None:
    if value == AS_WRITTEN or value in UNITS:
        return
    raise TunesmithError(f"--unit-length takes {', '.join(UNITS)} or {AS_WRITTEN}, not {value!r}")


AS_WRITTEN = "as-written"
UNITS = ("1/4", "1/8", "1/16")


@dataclass(kw_only=True)
class CodecOptions:
    """How a corpus is read and a codec fitted: one field per option, each codec reads its own."""

    format: str | None = setting(None, "only files of this format (default: every music file, format from its "
                                       "extension)", choices=FORMATS, group="corpus")
    codec: str = setting("auto", "chars: ABC/kern text one character per token; events: notes of any score; "
                                 "auto: chars for ABC or **kern files, events otherwise", choices=codec_names,
                         group="corpus")
    parts: str = setting("melody", "events: melody (the part named Soprano/Melody/Voice, else the top part), "
                                   "all (each part its own sequence) or a part number N (1 = top)",
                         check=_check_parts, group="corpus")
    transpose: str | None = setting(None, "events: move every piece to KEY, e.g. C (C major, A minor for minor "
                                          "pieces)", metavar="KEY", check=_check_key, group="corpus")
    chords: str = setting("reduce", "events: reduce keeps the chord tone nearest the previous melody note, keep "
                                    "makes one token of all its pitches", choices=("reduce", "keep"),
                          group="corpus")
    augment: int = setting(0, "events and ABC: add N transposed copies (+1, -1, +2, ... semitones) of every "
                              "training piece", low=0, high=11, group="corpus")
    keep_fields: str = setting("", "ABC: header field letters kept besides T R M L Q K P, which are about the "
                                   "music (e.g. BSZN for book, source, transcriber, notes), or all; by default "
                                   "those lines, which name people, and comments are left out",
                               check=_check_fields, metavar="LETTERS", group="corpus")
    unit_length: str = setting("1/8", "ABC: write every tune's note lengths in this unit note length (L:), so "
                                      "books written in different units read alike (a book in L:1/4 writes "
                                      "A/2B/2 where one in L:1/8 writes AB); as-written keeps each tune's own",
                               check=_check_unit, metavar="L", group="corpus")
    unk_min_count: int = setting(2, "symbols (characters, events) seen fewer than N times in the corpus are "
                                    "left out of the vocabulary and learned as one unknown symbol, as which "
                                    "'evaluate' scores symbols the model never saw (1: leave none out, no "
                                    "unknown symbol)",
                                 low=1, metavar="N", group="corpus")
    grid: str = setting("1/16", "grid: the length of a time step as a fraction of a whole note (1/4: a "
                                "quarter, the JSB benchmark's)", check=lambda v: _check_grid(v),
                        metavar="LENGTH", group="corpus")
    layout: str = setting("pitch", "grid: pitch (each step's sounding pitches, highest first), intervals (the "
                                   "same, each pitch below the top as its distance down from the one above) "
                                   "or voices (one slot per part, so SATB voices keep their identity)",
                          choices=("pitch", "voices", "intervals"), group="corpus")
    onsets: bool = setting(True, "grid: write each pitch as the plain piano roll of the benchmarks does, "
                                 "not as a new note or one held from the step before", group="corpus")
    split: str | None = setting(None, "grid: the split of a roll JSON file to read (train, valid, ...)",
                                metavar="NAME", group="corpus")


@dataclass
class Piece:
    """A corpus piece in the training shape of the reader that read it."""

    name: str       # where it came from: path, and tune number for books
    text: str       # training-shape text (canonical ABC tune, stripped **kern body, readable event line)
    format: str     # the reader: abc, kern, or events
    meta: dict = field(default_factory=dict)  # kern header; events (PartEvents JSON); style


class Codec(ABC):
    """Maps pieces to token ids and back. Token 0 is the start of a piece, 1 its end, and 2, where
    the codec has one, `<unk>`: the symbols left out of its vocabulary.

    A model trained on a corpus of several styles has one token per style, right
    after the start: `<s> <style:bach> ...`. Ids below `first_word` are these
    framing tokens; the representation's own symbols come after them.
    """

    kind: str = ""
    format: str = ""                   # what its pieces are, for people and cards: abc, kern, events, …
    BOS = 0
    EOS = 1
    styles: list[str] = []

    # ---- the representation's decisions --------------------------------------------------------
    primer_kind: str = "text"          # "text", or "score": a score file's first notes may start a piece
    default_formats: tuple[str, ...] = ()   # rendered by `sample` beside the written file
    text_output: bool = True           # its files are text a person reads (shown by the web page)
    loss_unit: str | None = None       # its loss is also reported per this unit ("character")
    can_transpose: bool = False        # --key, --transpose and --augment work

    @classmethod
    @abstractmethod
    def reader_for(cls, formats: set[str], chosen: bool) -> str | None:
        """The reader this codec reads files of `formats` with; None when it does not read them and
        was not `chosen` by name (auto); an error saying why when it was chosen and cannot."""

    @classmethod
    @abstractmethod
    def read_files(cls, files: list[Path], reader: str, options: CodecOptions, show_progress: bool = True
                   ) -> tuple[list[tuple[str, list[Piece]]], list[tuple[str, str]]]:
        """Files → ((file, its pieces) for each file read, skipped (where, reason))."""

    @classmethod
    def augment(cls, pieces: list[Piece], copies: int) -> list[Piece]:
        """Transposed copies of training pieces (codecs that can transpose)."""
        raise TunesmithError(f"--augment works on note events and ABC text: add --codec events")

    @classmethod
    def label(cls, fmt: str) -> str:
        """What a model of this codec writes, for people ("ABC text", "note events")."""
        return fmt

    @classmethod
    def length(cls, piece: Piece) -> tuple[int, str]:
        """How long a piece is, and in what (for people): characters for text."""
        return len(piece.text), "characters"

    @classmethod
    def melodies(cls, pieces: list[Piece], files: list[str]) -> list[tuple[str, list]] | None:
        """The corpus's melodies as (name, [(pitch, onset, duration)]) for the copy guard's index, or
        None where the representation has no melody (then there is no copy guard)."""
        return None

    def grid_roles(self) -> list[float] | None:
        """Per token id, for model types that read the time grid (nets/frames.py): the MIDI pitch a
        token sounds, -2 for the token that ends a step, -1 for any other; None where the codec
        has no time grid of sounding pitches."""
        return None

    def grid_piece(self, text: str):
        """A sampled text as a piece on a time grid (notation.grid.GridPiece) for the texture copy
        guard, or None where the codec has no time grid."""
        return None

    @classmethod
    def texture_guard(cls, pieces: list[Piece]):
        """The copy guard on whole textures (evaluate/texture.py) for a corpus, or None where the
        representation has no voices on one time grid."""
        return None

    def reading(self) -> CodecOptions:
        """The options other files are read with, to read them as this model's corpus was."""
        return CodecOptions(codec=self.kind)

    def units(self, piece: Piece) -> int:
        """How many `loss_unit`s a piece has."""
        return len(piece.text)

    def written_units(self, piece: Piece) -> int:
        """How many `loss_unit`s the piece has as its file writes it: the same as `units`, except where
        reading rewrote the text (ABC read in one unit note length keeps its book's count)."""
        return piece.meta.get("written", self.units(piece))

    def rewriting(self) -> str | None:
        """What reading rewrites in a piece, in words ("ABC lengths in L:1/8"), or None: nothing."""
        return None

    def check_key(self, key: str) -> None:
        """Refuse a --key this codec cannot write its pieces in."""
        raise TunesmithError(f"--key moves note-event models' pieces; this model writes {self.format} text")

    def constraint(self, controls: dict[str, str] | None = None) -> "Constraint | None":
        """The decoding constraint sampling applies, or None. `controls` (see `controls`) force parts of
        the piece, e.g. {"meter": "6/8"}: a codec without a constraint refuses them."""
        if controls:
            raise TunesmithError(f"this model takes no --{next(iter(controls))}: it writes {self.format} "
                                 f"without a grammar to force it with")
        return None

    def controls(self) -> dict[str, dict[str, int]]:
        """What may be forced when sampling (`constraint(controls)`): control name → {value: how many
        corpus pieces had it}. Empty where the codec takes none."""
        return {}

    def check_controls(self, controls: dict[str, str]) -> None:
        """Refuse a control this model does not take, or a value it does not know, listing the values it
        knows (with their counts in its corpus)."""
        known = self.controls()
        for name, value in controls.items():
            if name not in known:
                takes = ", ".join(f"--{n}" for n in known) or "none"
                raise TunesmithError(f"this model takes no --{name.replace('_', '-')} (it takes: {takes})")
            if value not in known[name]:
                raise TunesmithError(f"this model knows no --{name} {value!r}; it knows: "
                                     + ", ".join(f"{v} ({n})" for v, n in known[name].items()))

    @property
    def source_format(self) -> str:
        """The format of the file `finish` makes (abc, kern, musicxml)."""
        return self.format

    # ---- symbols ----------------------------------------------------------------------------

    def _init_symbols(self, styles: Sequence[str], words: Sequence[str], unk: bool = False) -> None:
        """The vocabulary: framing (start, end, and `<unk>` where the codec has one), style tokens, then
        the representation's own symbols. A codec saved before `<unk>` came has none, so its ids stay."""
        self.styles = list(styles)
        self.framing = SPECIALS + ([UNK] if unk else [])
        self.symbols = self.framing + [f"<style:{s}>" for s in self.styles] + list(words)
        self.index = {sym: i for i, sym in enumerate(self.symbols)}
        self.first_word = len(self.framing) + len(self.styles)

    @property
    def unk_id(self) -> int | None:
        """The id of `<unk>`, which stands for every symbol left out of the vocabulary; None where the
        codec has none (models saved before it came): then a piece with such a symbol cannot be scored."""
        return len(SPECIALS) if UNK in self.framing[len(SPECIALS):] else None

    @property
    def never_ids(self) -> list[int]:
        """Ids the sampler never picks: the start, and `<unk>`."""
        return [self.BOS] + ([self.unk_id] if self.unk_id is not None else [])

    @property
    def start_only_ids(self) -> list[int]:
        """Ids that may only follow the start token (the style tokens)."""
        return list(range(len(self.framing), self.first_word))

    def style_id(self, style: str) -> int:
        if not self.styles:
            raise TunesmithError(f"this model knows no styles (it was trained on one corpus), so no --style {style!r}")
        if style not in self.styles:
            raise TunesmithError(f"unknown style {style!r}; this model knows: {', '.join(self.styles)}")
        return len(self.framing) + self.styles.index(style)

    def style_of(self, ids: Sequence[int]) -> str | None:
        """The style a sampled piece took (its first id after the start), if the model has styles."""
        for i in ids[:1]:
            if len(self.framing) <= i < self.first_word:
                return self.styles[i - len(self.framing)]
        return None

    def with_unk(self, symbols: Sequence[str]) -> list[int]:
        """Symbols → ids, each one the vocabulary lacks as `<unk>` (for a codec that has one)."""
        unk = self.unk_id
        return [self.index.get(s, unk) for s in symbols]

    @staticmethod
    def rare(counts: dict, options: CodecOptions | None) -> set:
        """The symbols seen fewer than `unk_min_count` times, left out of a new vocabulary and learned as
        `<unk>` (which a codec has only where it left some out). No options: none are left out."""
        least = options.unk_min_count if options is not None else 1
        return {s for s, n in counts.items() if n < least}

    def _frame(self, ids: Sequence[int], style: str | None, end: bool) -> np.ndarray:
        head = [self.BOS] + ([self.style_id(style)] if style else [])
        return np.array(head + list(ids) + ([self.EOS] if end else []), dtype=np.int32)

    @property
    def vocab_size(self) -> int:
        return len(self.symbols)

    # ---- what each codec implements ------------------------------------------------------------

    @classmethod
    @abstractmethod
    def fit(cls, pieces: Sequence[Piece], options: CodecOptions | None = None, styles: Sequence[str] = ()
            ) -> "Codec":
        """Learn the vocabulary (and anything else the format needs) from training pieces: symbols seen
        fewer than `options.unk_min_count` times are left out and encoded as `<unk>` (see `rare`)."""

    @abstractmethod
    def encode(self, piece: Piece) -> np.ndarray:
        """A corpus piece → ids, framed by BOS [style] ... EOS. A symbol the vocabulary lacks is `<unk>`
        where the codec has one (`unk_id`), else an error naming it."""

    @abstractmethod
    def encode_primer(self, primer: str, style: str | None = None) -> np.ndarray:
        """What a piece starts with → ids, starting with BOS [style]. Unknown symbols are an error."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Ids (without the framing) → text in training shape."""

    @abstractmethod
    def finish(self, text: str, number: int, key: str | None = None) -> str:
        """Decoded text of a sampled piece → the contents of a complete file (in `key` where the codec can)."""

    @property
    @abstractmethod
    def extension(self) -> str: ...

    @abstractmethod
    def to_json(self) -> dict: ...

    @classmethod
    @abstractmethod
    def from_json(cls, data: dict) -> "Codec": ...


def codec_from_json(data: dict) -> Codec:
    """A saved codec (codec.json) → the codec; a damaged one is one sentence saying what is wrong."""
    if not isinstance(data, dict):
        raise TunesmithError(f"the codec file should hold a JSON object, not {saved.described(data)}")
    kind = saved.entry(data, "kind", "string")
    if kind not in CODECS:
        raise TunesmithError(f"unknown codec kind '{kind}' (known: {', '.join(CODECS)})")
    return saved.read(kind, lambda: CODECS[kind].from_json(data))


def choose(codec: str, formats: set[str]) -> tuple[type[Codec], str]:
    """The codec class (by name, or the first registered that reads these formats for auto) and its reader."""
    if codec != "auto":
        if codec not in CODECS:
            raise TunesmithError(f"--codec must be one of {', '.join(codec_names())}, not {codec!r}")
        cls = CODECS[codec]
        return cls, cls.reader_for(formats, chosen=True)
    for cls in CODECS.values():
        reader = cls.reader_for(formats, chosen=False)
        if reader is not None:
            return cls, reader
    raise TunesmithError(f"no codec reads {', '.join(sorted(formats))} files; pass --codec")
