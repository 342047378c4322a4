"""A grid model's tokens in another key: each pitch word moved by some semitones (`n60` → `n62`), a
key word moved with it (`K:G` → `K:A`), every other word (steps, bars, fermatas, rests, metres,
styles, the distances of the intervals layout) kept. `evaluate --average-keys` reads a piece in
several keys through these maps."""

from __future__ import annotations

import numpy as np

from tunesmith.notation import grid as g


def moved_word(word: str, semitones: int) -> str | None:
    """The word `semitones` higher, or None where its pitch leaves the 88 keys."""
    if word[:1] in "pnh" and word[1:].isdigit():
        pitch = int(word[1:]) + semitones
        return f"{word[0]}{pitch}" if g.LOWEST <= pitch <= g.HIGHEST else None
    if word.startswith("K:") and semitones:
        return "K:" + g.transposed_key(word[2:], semitones)
    return word


def shift_map(symbols: list[str], index: dict[str, int], semitones: int) -> np.ndarray:
    """For each token id, the id of its word `semitones` higher; -1 where that word leaves the keys
    or is not in the vocabulary."""
    out = np.full(len(symbols), -1, dtype=np.int64)
    for i, word in enumerate(symbols):
        moved = moved_word(word, semitones)
        if moved is not None:
            out[i] = index.get(moved, -1)
    return out
