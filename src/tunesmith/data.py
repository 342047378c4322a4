"""Token ids for training: split by piece, batches of whole pieces cut into BPTT chunks.

Every piece is `BOS ... EOS` and starts from a zero LSTM state, in training,
validation and sampling alike: no state leaks from one piece into the next, so
a model learns to begin a piece exactly as the sampler will ask it to.

Training packs pieces into `batch_size` rows: each row is a queue of whole
pieces in a shuffled order, and each piece begins at a chunk boundary, so only
the tail of its last chunk is padding. Chunks of `seq_len` steps go through
the LSTM one after another, the state carried from chunk to chunk (truncated
back-propagation through time) and zeroed in the rows where a new piece
begins. Padded positions have target -100 and do not count.

The ids of the whole corpus live in one compact numpy array plus offsets.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Collection, Iterator, Sequence

import numpy as np

from tunesmith import TunesmithError

IGNORE = -100


@dataclass
class TokenSet:
    """All pieces' ids in one array: piece i is ids[offsets[i]:offsets[i + 1]]."""

    ids: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_arrays(cls, arrays: Sequence[np.ndarray]) -> "TokenSet":
        lengths = np.array([len(a) for a in arrays], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int32)
        dtype = np.uint16 if (ids.max(initial=0) < 65536) else np.int32
        return cls(ids.astype(dtype), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def piece(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i]:self.offsets[i + 1]]

    def length(self, i: int) -> int:
        return int(self.offsets[i + 1] - self.offsets[i])

    def subset(self, indices: Sequence[int]) -> "TokenSet":
        return TokenSet.from_arrays([self.piece(i) for i in indices])

    @property
    def targets(self) -> int:
        """Number of predicted tokens (every token but each piece's BOS)."""
        return int(self.offsets[-1]) - len(self)


def split(n: int, valid_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Piece indices for training and validation, a seeded random split by piece."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    n_valid = 0 if n < 2 or valid_fraction <= 0 else max(1, round(n * valid_fraction))
    n_valid = min(n_valid, n - 1)
    return sorted(order[n_valid:]), sorted(order[:n_valid])


# ---- held-out books: validation by whole files ---------------------------------------------

LISTED = 40   # files named in the error for a book the corpus lacks


def file_of(name: str, files: Collection[str]) -> str | None:
    """The corpus file a piece was read from: its name itself, or its name up to a '#' (a book's
    `PATH#X12 Title`, a score's `PATH#part2`); None when no file of `files` matches."""
    if name in files:
        return name
    cut = name.find("#")
    while cut >= 0:
        if name[:cut] in files:
            return name[:cut]
        cut = name.find("#", cut + 1)
    return None


def _names(book: str, path: str) -> bool:
    """Whether `book` (a file name, a path or the end of one) names the corpus file `path`."""
    if book in (path, os.path.basename(path)) or path.endswith(os.sep + book.lstrip(os.sep)):
        return True
    return os.path.realpath(book) == os.path.realpath(path)


def _listing(files: Sequence[str]) -> str:
    """The corpus's files for an error: their names, or their paths below the corpus's common folder
    where names repeat; at most LISTED."""
    shown = [os.path.basename(f) for f in files]
    if len(set(shown)) < len(shown):
        root = os.path.commonpath(files) if len(files) > 1 else os.path.dirname(files[0])
        shown = [os.path.relpath(f, root) for f in files]
    shown = sorted(shown)
    more = f" and {len(shown) - LISTED} more" if len(shown) > LISTED else ""
    return ", ".join(shown[:LISTED]) + more


def match_books(books: Sequence[str], files: Sequence[str]) -> list[str]:
    """The corpus files that `books` name (each by file name, path or the end of a path), in the
    corpus's order; a name no file has, or one that several files share, is refused in one line."""
    held: set[str] = set()
    for book in books:
        found = [f for f in files if _names(book, f)]
        if not found:
            raise TunesmithError(f"--valid-books: the corpus has no file {book!r}; its files: {_listing(files)}")
        if len(found) > 1:
            raise TunesmithError(f"--valid-books: {book!r} names {len(found)} files of the corpus "
                                 f"({_listing(found)}); give more of its path")
        held.add(found[0])
    return [f for f in files if f in held]


def split_books(names: Sequence[str], files: Sequence[str], held: Collection[str]) -> tuple[list[int], list[int]]:
    """Piece indices for training and validation, split by file: validation is every piece read from
    a `held` file, training the rest. Refused when either side would be empty."""
    known, held = set(files), set(held)
    valid = [i for i, n in enumerate(names) if file_of(n, known) in held]
    train = [i for i, n in enumerate(names) if file_of(n, known) not in held]
    if not valid:
        raise TunesmithError(f"--valid-books: no piece of the corpus was read from "
                             f"{', '.join(sorted(os.path.basename(f) for f in held))} (see the skipped pieces)")
    if not train:
        raise TunesmithError("--valid-books holds out every file of the corpus: leave some to train on")
    return train, valid


@dataclass
class Chunk:
    inputs: np.ndarray   # (batch, time) int64
    targets: np.ndarray  # (batch, time) int64, IGNORE where padded
    reset: np.ndarray    # (batch,) bool: a new piece starts in this row, its state starts from zero


def _pieces_chunks(tokens: TokenSet, i: int, seq_len: int) -> int:
    return max(1, math.ceil((tokens.length(i) - 1) / seq_len))


def chunks(tokens: TokenSet, group: list[int], seq_len: int) -> list[Chunk]:
    """Pieces side by side, one per row, padded to the longest (used for evaluation)."""
    longest = max(tokens.length(i) for i in group)
    steps = max(1, math.ceil((longest - 1) / seq_len))
    width = steps * seq_len + 1
    grid = np.full((len(group), width), IGNORE, dtype=np.int64)
    for row, i in enumerate(group):
        piece = tokens.piece(i)
        grid[row, :len(piece)] = piece
    out = []
    for s in range(steps):
        window = grid[:, s * seq_len:(s + 1) * seq_len + 1]
        inputs = np.where(window[:, :-1] == IGNORE, 0, window[:, :-1])
        out.append(Chunk(inputs, window[:, 1:].copy(), np.full(len(group), s == 0)))
    return out


def pack(tokens: TokenSet, batch_size: int, seq_len: int, seed: int, epoch: int) -> list[list[int]]:
    """This epoch's rows, each a queue of whole pieces.

    Longest first (lengths jittered by the epoch's seed), each piece goes to the
    row with the fewest chunks so far, so rows end together and padding is only
    the tail of each piece's last chunk; then each row's order is shuffled, so
    which pieces share a step changes from epoch to epoch.
    """
    rng = np.random.default_rng([seed, epoch])
    n_chunks = np.array([_pieces_chunks(tokens, i, seq_len) for i in range(len(tokens))], dtype=np.float64)
    order = np.argsort(-n_chunks * rng.uniform(0.8, 1.2, size=len(n_chunks)), kind="stable")
    rows: list[list[int]] = [[] for _ in range(min(batch_size, len(tokens)))]
    load = [0] * len(rows)
    for i in order.tolist():
        r = min(range(len(rows)), key=load.__getitem__)
        rows[r].append(i)
        load[r] += int(n_chunks[i])
    for row in rows:
        rng.shuffle(row)
    return rows


def steps_per_epoch(tokens: TokenSet, batch_size: int, seq_len: int, seed: int = 0, world: int = 1) -> int:
    rows = pack(tokens, batch_size * world, seq_len, seed, 0)
    return max(sum(_pieces_chunks(tokens, i, seq_len) for i in row) for row in rows)


def epoch_chunks(tokens: TokenSet, batch_size: int, seq_len: int, seed: int, epoch: int,
                 start: int = 0, rank: int = 0, world: int = 1) -> Iterator[Chunk]:
    """The chunks of one epoch in order, skipping the first `start` (for resuming).

    Row r of every chunk continues row r of the chunk before; where a new piece
    begins, `reset` says so and the trainer zeroes that row's state. With
    several processes (`world`), the epoch is packed into batch_size × world
    rows and process `rank` takes every world-th row: each sees its own pieces,
    and all take the same number of steps.
    """
    every = pack(tokens, batch_size * world, seq_len, seed, epoch)
    # per row: (piece, chunk index within the piece) for every step
    schedules = [[(i, k) for i in row for k in range(_pieces_chunks(tokens, i, seq_len))] for row in every]
    steps = max(len(s) for s in schedules)
    rows = every[rank::world]
    schedule = schedules[rank::world]
    for step in range(start, steps):
        inputs = np.zeros((len(rows), seq_len), dtype=np.int64)
        targets = np.full((len(rows), seq_len), IGNORE, dtype=np.int64)
        reset = np.zeros(len(rows), dtype=bool)
        for r, plan in enumerate(schedule):
            if step >= len(plan):
                reset[r] = True
                continue
            i, k = plan[step]
            piece = tokens.piece(i)
            window = piece[k * seq_len:(k + 1) * seq_len + 1]
            inputs[r, :len(window) - 1] = window[:-1]
            targets[r, :len(window) - 1] = window[1:]
            reset[r] = k == 0
        yield Chunk(inputs, targets, reset)
