"""Character-level codec for text formats (ABC, **kern): one token per character."""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Sequence

import numpy as np

from tunesmith import TunesmithError
from tunesmith.codecs.base import Codec
from tunesmith.corpus import abc, kern


class CharCodec(Codec):
    kind = "chars"

    def __init__(self, fmt: str, chars: Sequence[str], kern_headers: dict | None = None,
                 styles: Sequence[str] = ()):
        if fmt not in ("abc", "kern"):
            raise TunesmithError(f"the character codec reads ABC or **kern, not '{fmt}'")
        self.format = fmt
        self.chars = list(chars)
        self._init_symbols(styles, self.chars)
        self.kern_headers = {int(w): kern.KernHeader.from_json(h) for w, h in (kern_headers or {}).items()}

    @property
    def extension(self) -> str:
        return ".abc" if self.format == "abc" else ".krn"

    @classmethod
    def fit(cls, pieces: Sequence, styles: Sequence[str] = (), **options) -> "CharCodec":
        if not pieces:
            raise TunesmithError("cannot learn a vocabulary from no pieces")
        fmt = pieces[0].format
        counts: Counter = Counter()
        for p in pieces:
            counts.update(p.text)
        headers = {}
        if fmt == "kern":
            common = kern.common_headers([kern.KernHeader.from_json(p.meta["header"])
                                          for p in pieces if "header" in p.meta])
            headers = {w: h.to_json() for w, h in common.items()}
        return cls(fmt, sorted(counts), headers, styles)

    def _ids(self, text: str, what: str) -> np.ndarray:
        try:
            return np.fromiter((self.index[ch] for ch in text), dtype=np.int32, count=len(text))
        except KeyError:
            pos, ch = next((i, c) for i, c in enumerate(text) if c not in self.index)
            name = unicodedata.name(ch, "unnamed")
            raise TunesmithError(
                f"{what} has a character this model never saw: {ch!r} ({name}, U+{ord(ch):04X}) "
                f"at character {pos + 1}; the model knows {len(self.chars)} characters: "
                f"{''.join(c for c in self.chars if c.isprintable())!r}") from None

    def encode(self, piece) -> np.ndarray:
        return self._frame(self._ids(piece.text, f"piece {piece.name}"), piece.meta.get("style"), end=True)

    def prepare_primer(self, primer: str) -> str:
        return abc.prepare_primer(primer) if self.format == "abc" else kern.prepare_primer(primer)

    def encode_primer(self, primer: str, style: str | None = None) -> np.ndarray:
        return self._frame(self._ids(self.prepare_primer(primer), "the primer"), style, end=False)

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.symbols[i] for i in ids if i >= self.first_word)

    def finish(self, text: str, number: int, key: str | None = None) -> str:
        if self.format == "abc":
            return abc.finish(text, number, title=f"tunesmith {number}")
        try:
            restored, _ = kern.restore(text, self.kern_headers)
            return restored
        except kern.KernError as exc:
            return f"!! tunesmith could not restore this sample: {exc}\n{text}"

    def to_json(self) -> dict:
        return {"kind": self.kind, "format": self.format, "chars": self.chars, "styles": self.styles,
                "kern_headers": {str(w): h.to_json() for w, h in self.kern_headers.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "CharCodec":
        try:
            return cls(data["format"], data["chars"], data.get("kern_headers"), data.get("styles", []))
        except (KeyError, TypeError) as exc:
            raise TunesmithError(f"the codec file is missing its '{exc}' entry") from None
