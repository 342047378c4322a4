"""The codec interface every representation implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np


class Codec(ABC):
    """Maps pieces to token ids and back. Token 0 is the start of a piece, 1 its end."""

    kind: str = ""
    BOS = 0
    EOS = 1

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @classmethod
    @abstractmethod
    def fit(cls, pieces: Sequence, **options) -> "Codec":
        """Learn the vocabulary (and anything else the format needs) from training pieces."""

    @abstractmethod
    def encode(self, piece_text: str) -> np.ndarray:
        """A piece in training shape → ids, framed by BOS ... EOS."""

    @abstractmethod
    def encode_primer(self, primer: str) -> np.ndarray:
        """What a piece starts with → ids, starting with BOS. Unknown symbols are an error."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Ids (without the framing) → text in training shape."""

    @abstractmethod
    def finish(self, text: str, number: int) -> str:
        """Decoded text of a sampled piece → the contents of a complete file."""

    @property
    @abstractmethod
    def extension(self) -> str: ...

    @abstractmethod
    def to_json(self) -> dict: ...

    @classmethod
    @abstractmethod
    def from_json(cls, data: dict) -> "Codec": ...
