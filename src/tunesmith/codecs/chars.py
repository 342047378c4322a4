"""Character-level codec for text formats (ABC, **kern): one token per character."""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from tunesmith import TunesmithError, log
from tunesmith.codecs import saved
from tunesmith.codecs.abc_symbols import LENGTHS
from tunesmith.codecs.base import AS_WRITTEN, UNITS, Codec, CodecOptions, Piece, augment_shifts, register_codec
from tunesmith.formats import TEXT_FORMATS
from tunesmith.notation import abc, kern, scores
from tunesmith.notation.abc_transpose import transpose
from tunesmith.notation.abc_units import to_unit


@register_codec
class CharCodec(Codec):
    kind = "chars"
    loss_unit = "character"

    def __init__(self, fmt: str, chars: Sequence[str], kern_headers: dict | None = None,
                 styles: Sequence[str] = (), unk: bool = False, keep_fields: str = "",
                 known: dict[str, dict[str, int]] | None = None, unit_length: str = ""):
        if fmt not in ("abc", "kern"):
            raise TunesmithError(f"the character codec reads ABC or **kern, not '{fmt}'")
        self.format = fmt
        self.chars = list(chars)
        self._init_symbols(styles, self.chars, unk)
        self.kern_headers = {int(w): kern.KernHeader.from_json(h) for w, h in (kern_headers or {}).items()}
        self.keep_fields = keep_fields     # ABC: field letters kept besides the music's
        self.unit_length = unit_length     # ABC: the unit every tune's lengths are read in ("": as written)
        self.known = known                 # header values of the corpus, for controls (None: saved before)
        self._grammar_caches: dict = {}    # controls → what the grammar worked out, kept across rounds

    @property
    def extension(self) -> str:
        return ".abc" if self.format == "abc" else ".krn"

    # ---- reading ------------------------------------------------------------------------------

    @classmethod
    def reader_for(cls, formats: set[str], chosen: bool) -> str | None:
        if not chosen and not formats <= set(TEXT_FORMATS):
            return None
        if len(formats) > 1:
            raise TunesmithError(f"the corpus mixes formats ({', '.join(sorted(formats))}); the character codec "
                                 f"reads one: pass --format, separate corpora, or --codec events")
        reader = next(iter(formats))
        if reader not in TEXT_FORMATS:
            raise TunesmithError(f"the character codec reads ABC or **kern text, not {reader}: use --codec events")
        return reader

    @classmethod
    def read_files(cls, files: list[Path], reader: str, options: CodecOptions, show_progress: bool = True
                   ) -> tuple[list[tuple[str, list[Piece]]], list[tuple[str, str]]]:
        if options.transpose or options.parts != "melody":
            raise TunesmithError("--transpose and --parts work on note events: add --codec events")
        found, skipped = [], []
        bar = log.progress(len(files), "reading", unit="file") if show_progress and len(files) > 20 else None
        for path in files:
            try:
                pieces, bad = read_file(path, reader, options.keep_fields, _unit(options))
            except (OSError, ValueError, kern.KernError) as exc:
                skipped.append((str(path), str(exc) or type(exc).__name__))
                pieces, bad = [], []
            skipped += bad
            found.append((str(path), pieces))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return found, skipped

    @classmethod
    def melodies(cls, pieces: list[Piece], files: list[str]) -> list[tuple[str, list]]:
        """The files read by music21 (cached), as the check reads a sampled piece: those that gave pieces
        (a book's tunes are named FILE#…)."""
        log.info("reading the corpus's melodies for the copy guard (once; cached after)")
        read = {p.name.split("#", 1)[0] for p in pieces} | {p.name for p in pieces}
        by_file, _ = scores.read_melodies([Path(f) for f in files if f in read])
        return [item for items in by_file.values() for item in items]

    @classmethod
    def label(cls, fmt: str) -> str:
        return f"{fmt.upper() if fmt == 'abc' else fmt} text"

    def reading(self) -> CodecOptions:
        return CodecOptions(codec=self.kind, format=self.format, keep_fields=self.keep_fields,
                            unit_length=self.unit_length or AS_WRITTEN)

    # ---- fitting, encoding, decoding --------------------------------------------------------------

    @classmethod
    def fit(cls, pieces: Sequence[Piece], options: CodecOptions | None = None, styles: Sequence[str] = ()
            ) -> "CharCodec":
        """The characters of the pieces; those seen fewer than `unk_min_count` times are learned as `<unk>`."""
        if not pieces:
            raise TunesmithError("cannot learn a vocabulary from no pieces")
        fmt = pieces[0].format
        counts: Counter = Counter()
        for p in pieces:
            counts.update(p.text)
        rare = cls.rare(counts, options)
        headers = {}
        if fmt == "kern":
            common = kern.common_headers([kern.KernHeader.from_json(p.meta["header"])
                                          for p in pieces if "header" in p.meta])
            headers = {w: h.to_json() for w, h in common.items()}
        if fmt == "abc":
            # the corpus's own values: moved copies train, but sampling keeps to the keys people wrote
            known = abc.control_counts([p.text for p in pieces if "augmented" not in p.meta])
        else:
            from tunesmith.codecs.kern_grammar import kern_controls
            known = kern_controls(pieces)
        return cls(fmt, sorted(set(counts) - rare), headers, styles, unk=bool(rare),
                   keep_fields=options.keep_fields if options is not None else "", known=known,
                   unit_length=_unit(options) if fmt == "abc" and options is not None else "")

    @classmethod
    def augment(cls, pieces: list[Piece], copies: int) -> list[Piece]:
        """ABC: up to `copies` copies of each tune moved to other keys (+1, -1, +2, -2, ... semitones),
        note for note (notation/abc_transpose.py); a tune that cannot be moved exactly is left out."""
        shifts = augment_shifts(copies)
        if pieces and pieces[0].format != "abc":
            raise TunesmithError("--augment moves ABC tunes or note events to other keys, not **kern text")
        out = []
        for piece in pieces:
            for shift in shifts:
                moved = transpose(piece.text, shift)
                if moved is not None:
                    out.append(Piece(f"{piece.name}@{shift:+d}", moved, piece.format,
                                     {**piece.meta, "augmented": shift}))
        return out

    def _ids(self, text: str, what: str, unk: bool = True) -> np.ndarray:
        """Characters → ids; one the model never saw becomes `<unk>` where it has one and `unk` allows,
        else an error naming it."""
        try:
            return np.fromiter((self.index[ch] for ch in text), dtype=np.int32, count=len(text))
        except KeyError:
            if unk and self.unk_id is not None:
                return np.array(self.with_unk(text), dtype=np.int32)
            pos, ch = next((i, c) for i, c in enumerate(text) if c not in self.index)
            name = unicodedata.name(ch, "unnamed")
            raise TunesmithError(
                f"{what} has a character this model never saw: {ch!r} ({name}, U+{ord(ch):04X}) "
                f"at character {pos + 1}; the model knows {len(self.chars)} characters: "
                f"{''.join(c for c in self.chars if c.isprintable())!r}") from None

    def encode(self, piece) -> np.ndarray:
        return self._frame(self._ids(piece.text, f"piece {piece.name}"), piece.meta.get("style"), end=True)

    def prepare_primer(self, primer: str) -> str:
        if self.format != "abc":
            return kern.prepare_primer(primer)
        return self.in_unit(abc.prepare_primer(primer))

    def rewriting(self) -> str | None:
        return f"ABC lengths in L:{self.unit_length}" if self.unit_length else None

    def in_unit(self, text: str) -> str:
        """An ABC tune, or the start of one, with its lengths in the model's unit (as it is where the
        model reads tunes as written, or where a length cannot be written in the unit; the L: of a
        header without a K: yet is set to the unit, whose lengths the model goes on to write)."""
        if not self.unit_length:
            return text
        if not any(line.startswith("K:") for line in text.split("\n")):
            return "\n".join(f"L:{self.unit_length}" if line.startswith("L:") else line for line in text.split("\n"))
        return to_unit(text, self.unit_length, LENGTHS) or text

    def encode_primer(self, primer: str, style: str | None = None) -> np.ndarray:
        return self._frame(self._ids(self.prepare_primer(primer), "the primer", unk=False), style, end=False)

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.symbols[i] for i in ids if i >= self.first_word)

    def finish(self, text: str, number: int, key: str | None = None) -> str:
        if self.format == "abc":
            return abc.finish(text, number, title=f"tunesmith {number}", keep=self.keep_fields)
        try:
            restored, _ = kern.restore(text, self.kern_headers)
            return restored
        except kern.KernError as exc:
            return f"!! tunesmith could not restore this sample: {exc}\n{text}"

    # ---- the grammar ------------------------------------------------------------------------------

    CONTROLS = {"abc": ("meter", "key", "mode", "rhythm"), "kern": ("meter", "key")}

    def controls(self) -> dict[str, dict[str, int]]:
        """meter, key, mode, rhythm (ABC) or meter, key (kern) → {value: pieces in the corpus}. For an
        ABC key, the values are tonics (K:Ador counts for key A and mode dorian). Models saved before
        controls came know none."""
        if not self.known:
            return {}
        out = {name: dict(self.known.get(name, {})) for name in self.CONTROLS[self.format]}
        if self.format == "abc":
            tonics: dict[str, int] = {}
            for value, n in self.known.get("key", {}).items():
                parts = abc.key_parts(value)
                if parts:
                    tonics[parts[0]] = tonics.get(parts[0], 0) + n
            out["key"] = dict(sorted(tonics.items(), key=lambda kv: (-kv[1], kv[0])))
        return {name: values for name, values in out.items() if values}

    def constraint(self, controls: dict[str, str] | None = None):
        """The format's grammar (codecs/abc_grammar.py, codecs/kern_grammar.py): every sampled piece
        is one `tunesmith check` passes, with the `controls` forced."""
        from tunesmith.codecs.constraint import GrammarCache    # torch: only when sampling
        key = tuple(sorted((controls or {}).items()))
        cache = self._grammar_caches.setdefault(key, GrammarCache(self.vocab_size))
        if self.format == "abc":
            from tunesmith.codecs.abc_grammar import AbcConstraint
            return AbcConstraint(self, controls or {}, cache=cache)
        from tunesmith.codecs.kern_grammar import KernConstraint
        return KernConstraint(self, controls or {}, cache=cache)

    def to_json(self) -> dict:
        data = {"kind": self.kind, "format": self.format, "chars": self.chars, "styles": self.styles,
                "kern_headers": {str(w): h.to_json() for w, h in self.kern_headers.items()}}
        if self.unk_id is not None:     # a codec saved before <unk> came keeps its file as it was
            data["unk"] = True
        if self.keep_fields:
            data["keep_fields"] = self.keep_fields
        if self.unit_length:
            data["unit_length"] = self.unit_length
        if self.known is not None:
            data["known"] = self.known
        return data

    @classmethod
    def from_json(cls, data: dict) -> "CharCodec":
        fmt = saved.entry(data, "format", "string")
        chars = saved.entry(data, "chars", "characters")
        headers = saved.entry(data, "kern_headers", "object or null", None)
        for width, header in (headers or {}).items():
            if not (width.isdigit() and isinstance(header, dict) and _is_header(header)):
                raise saved.wrong("kern_headers", "an object of spine counts and headers (lists of strings "
                                                  "'spines', 'staff', 'clef')", {width: header})
        known = saved.entry(data, "known", "object or null", None)
        if known is not None and not all(isinstance(v, dict) and all(isinstance(k, str) and isinstance(n, int)
                                                                      for k, n in v.items()) for v in known.values()):
            raise saved.wrong("known", "an object of controls, each {value: count}", known)
        unit = saved.entry(data, "unit_length", "string", "")
        if unit and unit not in UNITS:
            raise saved.wrong("unit_length", f"one of {', '.join(UNITS)}", unit)
        return cls(fmt, chars, headers, saved.entry(data, "styles", "distinct strings", []),
                   saved.entry(data, "unk", "boolean", False), saved.entry(data, "keep_fields", "string", ""),
                   known, unit)


def _is_header(header: dict) -> bool:
    return "spines" in header and all(saved.KINDS["strings"][1](header.get(k, []))
                                      for k in ("spines", "staff", "clef"))


def _unit(options: CodecOptions) -> str:
    """The unit ABC tunes are read in ("": each as written)."""
    return "" if options.unit_length == AS_WRITTEN else options.unit_length


def read_file(path: Path, fmt: str, keep_fields: str = "", unit: str = "") -> tuple[list[Piece], list[tuple[str, str]]]:
    """One ABC or **kern file → (pieces, skipped). Raises OSError/ValueError for an unreadable file.
    `keep_fields`: ABC field letters kept besides the music's; `unit`: the unit note length every
    tune's lengths are written in ("": as written; a tune whose lengths it cannot write stays so)."""
    text = abc.decode(path.read_bytes(), refuse_binary=True)   # by its byte-order mark; binary: ValueError
    if fmt == "abc":
        found, skipped = abc.read_book(text, str(path), keep_fields)
        if not found and not skipped:
            raise ValueError("no tunes (no X: line)")
        # (read in a unit, a tune keeps how many characters its book writes it in: `Codec.written_units`)
        return [Piece(n, (to_unit(t, unit, LENGTHS) or t), "abc", {"written": len(t)}) if unit else Piece(n, t, "abc")
                for n, t in found], skipped
    body, header = kern.strip(text)
    return [Piece(str(path), body, "kern", {"header": header.to_json()})], []
