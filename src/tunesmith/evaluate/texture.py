"""The copy guard on the whole texture of a piece in several voices, as `compose` uses it.

The top-voice guard (evaluate/novelty.py) compares one line of notes. A grid
model writes every voice, so it can also copy a passage of its corpus in all
its voices at once. A piece copies its corpus here when it shares more than
COPY_BARS bars of 4/4 (every voice, every step, in any transposition) with one
corpus piece: the same definition as `judge --voices`.

The corpus is kept as the set of 64-bit hashes (BLAKE2b) of all its runs of
exactly COPY_BARS bars + 1 step, each moved so that its first sounding pitch is
0: a piece shares more than COPY_BARS bars exactly when one of its own runs of
that length is in the set. It is written beside a model's weights as
texture_index.safetensors by training (grid codecs), and read by `compose`.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from tunesmith import TunesmithError, atomic
from tunesmith.notation.grid import HELD, REST, GridPiece

TEXTURE_FILE = "texture_index.safetensors"
COPY_BARS = 4           # more than this many bars (4/4) of every voice shared with one corpus piece is a copy
_REST_CODE, _HELD_CODE = 1000, 500


def bar_steps(grid: str) -> int:
    """Steps of a 4/4 bar on a grid of `grid` quarter lengths (at least 1)."""
    return max(1, round(4 / Fraction(grid)))


def window_key(steps: Sequence[Sequence[int]], start: int, length: int) -> tuple | None:
    """Steps start … start+length-1, moved so the first sounding pitch is 0, as a hashable tuple
    (a rest, a held pitch and a new one are told apart); None where nothing sounds."""
    base = next((e - HELD if e >= HELD else e for s in steps[start:start + length] for e in s if e != REST), None)
    if base is None:
        return None
    return tuple(tuple(_REST_CODE if e == REST else (_HELD_CODE + e - HELD - base if e >= HELD else e - base)
                       for e in s) for s in steps[start:start + length])


def _digest(key: tuple) -> int:
    return int.from_bytes(hashlib.blake2b(repr(key).encode("ascii"), digest_size=8).digest(), "little")


def _digests(steps: Sequence[Sequence[int]], length: int) -> list[int]:
    keys = (window_key(steps, i, length) for i in range(len(steps) - length + 1))
    return [_digest(k) for k in keys if k is not None]


class TextureGuard:
    """The corpus's runs of `length` steps, hashed: `copies(piece)` says whether a piece shares one."""

    def __init__(self, hashes: np.ndarray, length: int):
        self.hashes = np.unique(np.asarray(hashes, dtype=np.uint64))
        self.length = length

    @classmethod
    def from_pieces(cls, pieces: Sequence[GridPiece]) -> "TextureGuard | None":
        """The guard of pieces on one grid (their first piece's), or None for no pieces."""
        if not pieces:
            return None
        length = COPY_BARS * bar_steps(pieces[0].grid) + 1
        found = [h for p in pieces for h in _digests(p.steps, length)]
        return cls(np.array(found, dtype=np.uint64), length)

    def __len__(self) -> int:
        return len(self.hashes)

    def copies(self, piece: GridPiece) -> bool:
        """Whether the piece shares more than COPY_BARS bars of every voice with a corpus piece."""
        mine = np.array(_digests(piece.steps, self.length), dtype=np.uint64)
        return bool(mine.size) and bool(np.isin(mine, self.hashes).any())

    def save(self, folder: str | Path) -> Path:
        from safetensors.numpy import save_file

        path = Path(folder) / TEXTURE_FILE
        try:
            save_file({"hashes": self.hashes.view(np.int64)}, str(path), metadata={"length": str(self.length)})
        except Exception as exc:  # noqa: BLE001 - safetensors reports a full disk as its own error
            path.unlink(missing_ok=True)
            raise atomic.library_error(exc, path) from exc
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "TextureGuard | None":
        """The guard saved in a bundle folder, or None where it has none (models of one voice, or
        trained before it existed); a damaged file is one sentence."""
        from safetensors import safe_open

        path = Path(folder) / TEXTURE_FILE
        if not path.exists():
            return None
        try:
            with safe_open(str(path), framework="numpy") as f:
                length = int(f.metadata()["length"])
                hashes = f.get_tensor("hashes").view(np.uint64)
        except Exception as exc:  # noqa: BLE001 - a damaged file is one sentence
            raise TunesmithError(f"{path} is truncated or corrupt ({exc})") from None
        if not 1 < length <= 100_000:
            raise TunesmithError(f"{path} is corrupt: a run of {length} steps")
        return cls(hashes, length)
