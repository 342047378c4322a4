"""Is it new? The longest run of consecutive notes a piece shares with any training piece.

A piece is its melody as notes (rests left out, the top note of a chord), each
note a token of pitch and duration; in transposition-invariant mode a token is
the interval from the previous note and the duration, so a transposed copy
matches too.

The index holds every training piece's tokens in one array. To find a
piece's longest shared run it hashes n-grams (a polynomial rolling hash over
uint64): short runs (below SEED notes) are looked up in sorted hash arrays of
every length 1..SEED-1; longer ones start from a SEED-note hash hit and are
extended note by note against the corpus, vectorised over all hits, so
lengths are exact and the source piece is known. Building the index is a few
sorts; judging a piece is a few hundred array lookups.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tunesmith import TunesmithError, atomic

SEED = 6
DEFAULT_MAX_COPY = 20   # see README "Copy guard": held-out folk tunes share at most ... notes with the rest
BASE = np.uint64(1_000_003)
INDEX_FILE = "corpus_index.safetensors"


def _tokens(notes: Sequence[tuple[int, float]], intervals: bool) -> np.ndarray:
    """(pitch, duration) notes → int64 tokens: pitch (or interval) and duration in 1/48 quarters."""
    if not len(notes):
        return np.zeros(0, dtype=np.int64)
    pitch = np.array([p for p, _ in notes], dtype=np.int64)
    dur = np.clip(np.round(np.array([d for _, d in notes], dtype=np.float64) * 48), 0, 4095).astype(np.int64)
    if intervals:
        pitch = np.diff(pitch, prepend=pitch[0]) + 256   # the first note's "interval" is 0
    return pitch * 4096 + dur


MASK = (1 << 64) - 1


def _prefix_hashes(tokens: np.ndarray) -> np.ndarray:
    """H[i] = hash of tokens[:i] (mod 2**64)."""
    out = [0] * (len(tokens) + 1)
    acc, base = 0, int(BASE)
    for i, t in enumerate(tokens.tolist()):
        acc = (acc * base + (t & MASK) + 1) & MASK
        out[i + 1] = acc
    return np.array(out, dtype=np.uint64)


def _powers(n: int) -> np.ndarray:
    return np.array([pow(int(BASE), i, 1 << 64) for i in range(n + 1)], dtype=np.uint64)


@dataclass
class Match:
    length: int                 # notes in the longest shared run (0: not even one note in common)
    source: str | None          # the training piece it occurs in
    start: int                  # where the run starts in the judged piece (note index)
    source_start: int           # and in the training piece


class NoveltyIndex:
    """Every training piece's melody, ready to answer 'longest shared run, and where'."""

    def __init__(self, names: list[str], pitches: np.ndarray, durations: np.ndarray, offsets: np.ndarray):
        self.names = list(names)
        self.pitches = np.asarray(pitches, dtype=np.int16)
        self.durations = np.asarray(durations, dtype=np.float32)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self._built: dict[bool, tuple] = {}

    @classmethod
    def from_pieces(cls, pieces: Sequence[tuple[str, Sequence[tuple[int, float]]]]) -> "NoveltyIndex":
        names = [name for name, _ in pieces]
        lengths = [len(notes) for _, notes in pieces]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        pitches = np.array([p for _, notes in pieces for p, _ in notes], dtype=np.int16)
        durations = np.array([d for _, notes in pieces for _, d in notes], dtype=np.float32)
        return cls(names, pitches, durations, offsets)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def notes(self) -> int:
        return int(self.offsets[-1])

    # ---- building -----------------------------------------------------------------------

    def _build(self, intervals: bool):
        if intervals in self._built:
            return self._built[intervals]
        pieces = []
        for k, (a, b) in enumerate(zip(self.offsets[:-1], self.offsets[1:])):
            t = _tokens(list(zip(self.pitches[a:b].tolist(), self.durations[a:b].tolist())), intervals)
            if intervals and len(t):
                t[0] = -1 - k    # a piece's first note has no interval: it matches nothing
            pieces.append(t)
        tokens = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
        prefix = _prefix_hashes(tokens)
        powers = _powers(SEED)
        piece_end = np.repeat(self.offsets[1:], np.diff(self.offsets))   # end of the piece each note is in
        starts = np.arange(len(tokens))
        tables = {}
        with np.errstate(over="ignore"):
            for n in range(1, SEED + 1):
                ok = starts + n <= piece_end
                s = starts[ok]
                hashes = prefix[s + n] - prefix[s] * powers[n]
                order = np.argsort(hashes, kind="stable")
                tables[n] = (hashes[order], s[order])
        self._built[intervals] = (tokens, piece_end, tables)
        return self._built[intervals]

    # ---- querying -----------------------------------------------------------------------

    def longest_match(self, notes: Sequence[tuple[int, float]], intervals: bool = False) -> Match:
        """The longest run of consecutive notes of `notes` that also occurs in one training piece."""
        query = _tokens(notes, intervals)
        if intervals and len(query):
            query = query[1:]     # the first note has no interval: runs are counted in intervals + 1 notes
        if not len(query) or not len(self):
            return Match(0, None, 0, 0)
        tokens, piece_end, tables = self._build(intervals)
        qprefix = _prefix_hashes(query)
        powers = _powers(SEED)
        best = (0, -1, 0)   # (length, corpus position, query position)
        with np.errstate(over="ignore"):
            # short runs: is any n-gram of the query in the corpus? (the longest n below SEED)
            for n in range(1, min(SEED, len(query)) + 1):
                hashes, positions = tables[n]
                q = qprefix[n:] - qprefix[:-n] * powers[n]
                where = np.searchsorted(hashes, q)
                hit = (where < len(hashes)) & (hashes[np.minimum(where, len(hashes) - 1)] == q)
                if not hit.any():
                    break
                i = int(np.argmax(hit))
                best = (n, int(positions[where[i]]), i)
            if best[0] == SEED:
                best = self._extend(query, qprefix, tokens, piece_end, tables[SEED], best)
        length, at, qi = best
        if length == 0:
            return Match(0, None, 0, 0)
        piece = int(np.searchsorted(self.offsets, at, side="right") - 1)
        if intervals:   # n intervals are n + 1 notes, starting one note earlier in the corpus
            return Match(length + 1, self.names[piece], qi, at - int(self.offsets[piece]) - 1)
        return Match(length, self.names[piece], qi, at - int(self.offsets[piece]))

    def _extend(self, query, qprefix, tokens, piece_end, seed_table, best):
        hashes, positions = seed_table
        q = qprefix[SEED:] - qprefix[:-SEED] * _powers(SEED)[SEED]
        lo = np.searchsorted(hashes, q, side="left")
        hi = np.searchsorted(hashes, q, side="right")
        for qi in np.nonzero(hi > lo)[0]:
            qi = int(qi)
            if len(query) - qi <= best[0]:
                break
            cand = positions[lo[qi]:hi[qi]]
            length = SEED
            alive = cand
            # extend every candidate at once until none still matches
            while len(alive) and qi + length < len(query):
                nxt = alive + length
                ok = (nxt < piece_end[alive]) & (tokens[np.minimum(nxt, len(tokens) - 1)] == query[qi + length])
                if not ok.any():
                    break
                alive = alive[ok]
                length += 1
            if length > best[0]:
                best = (length, int(alive[0] if len(alive) else cand[0]), qi)
        return best

    # ---- storing ------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        from safetensors.numpy import save_file

        path = Path(folder) / INDEX_FILE
        names = json.dumps(self.names, ensure_ascii=False)
        try:
            names.encode("utf-8")
        except UnicodeEncodeError:   # a name with bytes that are not UTF-8: escaped, read back the same
            names = json.dumps(self.names)
        try:
            save_file({"pitches": self.pitches, "durations": self.durations, "offsets": self.offsets},
                      str(path), metadata={"names": names})
        except Exception as exc:  # noqa: BLE001 - safetensors reports a full disk as its own error
            try:
                path.unlink(missing_ok=True)   # no half-written index
            except OSError:
                pass
            raise atomic.library_error(exc, path) from exc
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "NoveltyIndex":
        from safetensors import safe_open

        path = Path(folder) / INDEX_FILE
        if not path.exists():
            raise TunesmithError(f"'{folder}' has no index of its training corpus ({INDEX_FILE}); "
                                 f"models trained before the copy guard existed lack one")
        try:
            with safe_open(str(path), framework="numpy") as f:
                names = json.loads(f.metadata()["names"])
                arrays = {k: f.get_tensor(k) for k in ("pitches", "durations", "offsets")}
        except Exception as exc:  # noqa: BLE001 - a damaged file is one sentence
            raise TunesmithError(f"{path} is truncated or corrupt ({exc})") from None
        if len(names) != len(arrays["offsets"]) - 1:
            raise TunesmithError(f"{path} is inconsistent: {len(names)} names for {len(arrays['offsets']) - 1} pieces")
        return cls(names, arrays["pitches"], arrays["durations"], arrays["offsets"])

