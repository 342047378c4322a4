"""Token ids for training: split by piece, batches of whole pieces cut into BPTT chunks.

Every piece is `BOS ... EOS` and starts from a zero LSTM state, in training,
validation and sampling alike: no state leaks from one piece into the next, so
a model learns to begin a piece exactly as the sampler will ask it to. Pieces of
similar length share a batch (length-sorted with jitter) so padding stays small;
each batch is cut into chunks of `seq_len` steps and the state is carried from
chunk to chunk (truncated back-propagation through time). Padded positions have
target -100 and do not count.

The ids of the whole corpus live in one compact numpy array plus offsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

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


@dataclass
class Chunk:
    inputs: np.ndarray   # (batch, time) int64
    targets: np.ndarray  # (batch, time) int64, IGNORE where padded
    first: bool          # the first chunk of its batch: the state starts from zero


def groups(tokens: TokenSet, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """This epoch's batches of piece indices: similar lengths together, order shuffled."""
    rng = np.random.default_rng([seed, epoch])
    lengths = np.array([tokens.length(i) for i in range(len(tokens))], dtype=np.float64)
    jittered = lengths * rng.uniform(0.85, 1.15, size=len(lengths))
    order = np.argsort(jittered, kind="stable")
    batches = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def chunks(tokens: TokenSet, group: list[int], seq_len: int) -> list[Chunk]:
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
        out.append(Chunk(inputs, window[:, 1:].copy(), s == 0))
    return out


def steps_per_epoch(tokens: TokenSet, batch_size: int, seq_len: int, seed: int = 0) -> int:
    return sum(max(1, math.ceil((max(tokens.length(i) for i in g) - 1) / seq_len))
               for g in groups(tokens, batch_size, seed, 0))


def epoch_chunks(tokens: TokenSet, batch_size: int, seq_len: int, seed: int, epoch: int,
                 start: int = 0) -> Iterator[Chunk]:
    """The chunks of one epoch in order, skipping the first `start` (for resuming)."""
    n = 0
    for group in groups(tokens, batch_size, seed, epoch):
        for chunk in chunks(tokens, group, seq_len):
            if n >= start:
                yield chunk
            n += 1
