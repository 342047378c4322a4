"""Decoding constraints: what a codec may forbid the sampler to write next.

A constraint keeps one state per row of the batch being sampled. The sampler
calls, for the whole batch at once:

    constraint.start(rows, prefix)   every row begins after the same ids (BOS, style, primer)
    constraint.allowed()             (rows, vocab) bool: the tokens each row may take next
    constraint.advance(tokens)       each row took its token
    constraint.keep(rows)            finished rows left the batch: keep these (a bool mask), in order

`allowed` must leave every row at least one token (the end of the piece, when
nothing else fits). `TableConstraint` is the general finite-state case: the
states and their transitions in one table, so `allowed` is one indexing
operation and `advance` one gather, whatever the batch size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import torch

from tunesmith import TunesmithError


class Constraint(ABC):
    @abstractmethod
    def start(self, rows: int, prefix: Sequence[int]) -> None: ...

    @abstractmethod
    def allowed(self) -> torch.Tensor: ...

    @abstractmethod
    def advance(self, tokens: torch.Tensor) -> None: ...

    @abstractmethod
    def keep(self, rows: torch.Tensor) -> None: ...

    def accepts(self, ids: Sequence[int], prefix_length: int = 1) -> int | None:
        """Follow one piece's ids (BOS first) as the sampler would: the position of the first id the
        constraint forbids, or None when it allows them all. For tests and for checking a corpus."""
        self.start(1, list(ids[:prefix_length]))
        for position in range(prefix_length, len(ids)):
            if not bool(self.allowed()[0, ids[position]]):
                return position
            self.advance(torch.tensor([ids[position]]))
        return None


class TableConstraint(Constraint):
    """A finite-state constraint: `table[state, token]` is the state after `token`, or -1 where the
    token is forbidden in that state. Rows start in `initial`, after following the prefix."""

    def __init__(self, table: torch.Tensor, initial: int = 0):
        if table.dim() != 2 or table.dtype not in (torch.int64, torch.int32):
            raise TunesmithError("a constraint table is a (states, vocab) integer tensor")
        if bool(((table >= 0).sum(1) == 0).any()):
            raise TunesmithError("a constraint table has a state where no token is allowed")
        self.table = table.long()
        self.initial = initial
        self.state = torch.zeros(0, dtype=torch.long)

    def start(self, rows: int, prefix: Sequence[int]) -> None:
        state = self.initial
        for token in prefix[1:]:     # the start token itself leads nowhere new
            nxt = int(self.table[state, token])
            if nxt < 0:
                raise TunesmithError(f"the primer breaks the model's grammar at its token {token}")
            state = nxt
        self.state = torch.full((rows,), state, dtype=torch.long, device=self.table.device)

    def allowed(self) -> torch.Tensor:
        return self.table[self.state] >= 0

    def advance(self, tokens: torch.Tensor) -> None:
        self.state = self.table[self.state, tokens]

    def keep(self, rows: torch.Tensor) -> None:
        self.state = self.state[rows]
