"""The codec interface every representation implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np

from tunesmith import TunesmithError

SPECIALS = ["<s>", "</s>"]


class Codec(ABC):
    """Maps pieces to token ids and back. Token 0 is the start of a piece, 1 its end.

    A model trained on a corpus of several styles has one token per style, right
    after the start: `<s> <style:bach> ...`. Ids below `first_word` are these
    framing tokens; the representation's own symbols come after them.
    """

    kind: str = ""
    BOS = 0
    EOS = 1
    styles: list[str] = []

    def _init_symbols(self, styles: Sequence[str], words: Sequence[str]) -> None:
        self.styles = list(styles)
        self.symbols = SPECIALS + [f"<style:{s}>" for s in self.styles] + list(words)
        self.index = {sym: i for i, sym in enumerate(self.symbols)}
        self.first_word = len(SPECIALS) + len(self.styles)

    @property
    def start_only_ids(self) -> list[int]:
        """Ids that may only follow the start token (the style tokens)."""
        return list(range(len(SPECIALS), self.first_word))

    def style_id(self, style: str) -> int:
        if not self.styles:
            raise TunesmithError(f"this model knows no styles (it was trained on one corpus), so no --style {style!r}")
        if style not in self.styles:
            raise TunesmithError(f"unknown style {style!r}; this model knows: {', '.join(self.styles)}")
        return len(SPECIALS) + self.styles.index(style)

    def style_of(self, ids: Sequence[int]) -> str | None:
        """The style a sampled piece took (its first id after the start), if the model has styles."""
        for i in ids[:1]:
            if len(SPECIALS) <= i < self.first_word:
                return self.styles[i - len(SPECIALS)]
        return None

    def _frame(self, ids: Sequence[int], style: str | None, end: bool) -> np.ndarray:
        head = [self.BOS] + ([self.style_id(style)] if style else [])
        return np.array(head + list(ids) + ([self.EOS] if end else []), dtype=np.int32)

    @property
    def vocab_size(self) -> int:
        return len(self.symbols)

    @classmethod
    @abstractmethod
    def fit(cls, pieces: Sequence, **options) -> "Codec":
        """Learn the vocabulary (and anything else the format needs) from training pieces."""

    @abstractmethod
    def encode(self, piece) -> np.ndarray:
        """A corpus piece → ids, framed by BOS [style] ... EOS."""

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
