"""The finite-state decoding constraint: every state's transitions in one table (see codecs/constraint.py)."""

from __future__ import annotations

from typing import Sequence

import torch

from tunesmith.codecs.constraint import Constraint
from tunesmith import TunesmithError


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

    def permits_rows(self, rows: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.table[self.state[rows], tokens] >= 0

    def refused(self, tokens: list[int]) -> list[int]:
        ok = (self.table[self.state, torch.tensor(tokens, dtype=torch.long, device=self.table.device)] >= 0).tolist()
        return [row for row, fine in enumerate(ok) if not fine]

    def first_permitted(self, rows: torch.Tensor, candidates: list[list[int]]) -> list[int]:
        tokens = torch.tensor(candidates, dtype=torch.long, device=self.table.device)
        ok = (tokens >= 0) & (self.table[self.state[rows][:, None], tokens.clamp(min=0)] >= 0)
        first = tokens.gather(1, ok.long().argmax(1, keepdim=True)).squeeze(1)
        return torch.where(ok.any(1), first, -1).tolist()

    def advance(self, tokens: torch.Tensor) -> None:
        self.state = self.table[self.state, tokens]

    def keep(self, rows: torch.Tensor) -> None:
        self.state = self.state[rows]
