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

import threading
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


class GrammarConstraint(Constraint):
    """A constraint written as a reader of the codec's symbols, one step at a time.

    A subclass gives the reader: `initial()` its state before the first symbol, `step(state, symbol)`
    the state after a symbol or None where the symbol is forbidden, and `can_end(state)` whether the
    piece may end there. States are immutable and hashable (tuples, frozen dataclasses), so each
    state's allowed tokens and each (state, token)'s next state are worked out once and looked up
    after: a step costs a dictionary look-up per row and one gather for the whole batch. A grammar
    whose states hold unbounded detail (a title's text, say) should leave it out of the state."""

    CACHE_LIMIT = 200_000   # states remembered; past it the caches start again (memory stays bounded)

    def __init__(self, symbols: Sequence[str], end_id: int, skip_ids: Sequence[int] = (),
                 cache: "GrammarCache | None" = None):
        self.symbols = list(symbols)
        self.end_id = end_id
        self.skip = set(skip_ids)          # ids never allowed (start, <unk>, styles)
        self.cache = cache if cache is not None else GrammarCache(len(self.symbols))
        self.rows: list = []

    # ---- what a grammar defines -------------------------------------------------------------------

    @abstractmethod
    def initial(self): ...

    @abstractmethod
    def step(self, state, symbol: str): ...

    @abstractmethod
    def can_end(self, state) -> bool: ...

    # ---- the Constraint interface -----------------------------------------------------------------

    def follow(self, state, token: int):
        """The state after `token`, or None where the grammar forbids it."""
        key = (state, token)
        try:
            return self.cache.next[key]
        except KeyError:
            pass
        if state is _DEAD:
            nxt = _DEAD if token == self.end_id else None
        elif token == self.end_id:
            nxt = state if self.can_end(state) else None
        elif token in self.skip:
            nxt = None
        else:
            nxt = self.step(state, self.symbols[token])
        if len(self.cache.next) >= self.CACHE_LIMIT:
            self.cache.next.clear()
        self.cache.next[key] = nxt
        return nxt

    def view(self, state):
        """What of a state decides its mask: states with the same view share one (default: all of it)."""
        return state

    def _lives(self, state, token: int) -> bool:
        """Whether `state` (reached by `token`) exists and leads on: the end itself, or some token."""
        if state is None:
            return False
        if token == self.end_id:
            return True
        found = self.cache.alive.get(state)
        if found is None:
            if len(self.cache.alive) >= self.CACHE_LIMIT:
                self.cache.alive.clear()
            found = any(self.follow(state, t) is not None for t in range(len(self.symbols)))
            self.cache.alive[state] = found
        return found

    def _mask_id(self, state) -> int:
        cache = self.cache
        key = self.view(state)
        found = cache.mask_of.get(key)
        if found is not None:
            return found
        # a token is allowed where the grammar takes it and the state after it is no dead end (one step
        # ahead: a grammar's deeper dead ends are its bug; the end is then the way out)
        mask = torch.tensor([self._lives(self.follow(state, t), t) for t in range(len(self.symbols))])
        if not bool(mask.any()):
            mask[self.end_id] = True
        with cache.lock:                  # the web app samples with one model in several threads
            if len(cache.mask_of) >= self.CACHE_LIMIT:
                cache.mask_of.clear()
                cache.size = 0
            if cache.size == len(cache.bank):
                cache.bank = torch.cat([cache.bank, torch.zeros_like(cache.bank)])
            cache.bank[cache.size] = mask
            cache.mask_of[key] = cache.size
            cache.size += 1
            return cache.size - 1

    def start(self, rows: int, prefix: Sequence[int]) -> None:
        state = self.initial()
        for position, token in enumerate(prefix[1:], 1):
            if token in self.skip and position == 1:   # a style token: the text starts after it
                continue
            nxt = self.follow(state, token)
            if nxt is None:
                raise TunesmithError(f"the primer breaks the model's grammar at its symbol {position} "
                                     f"({self.symbols[token]!r})")
            state = nxt
        self.rows = [state] * rows

    def allowed(self) -> torch.Tensor:
        ids = torch.tensor([self._mask_id(s) for s in self.rows], dtype=torch.long)
        with self.cache.lock:
            return self.cache.bank[ids]

    def advance(self, tokens: torch.Tensor) -> None:
        follow = self.follow
        self.rows = [follow(s, t) for s, t in zip(self.rows, tokens.tolist())]
        # a token the mask forbade (a caller that does not mask) ends the row's grammar: keep it ending
        self.rows = [s if s is not None else _DEAD for s in self.rows]

    def keep(self, rows: torch.Tensor) -> None:
        self.rows = [s for s, k in zip(self.rows, rows.tolist()) if k]


class GrammarCache:
    """What a grammar has worked out, shared by the constraints of one model (and one set of controls):
    each state's mask, each (state, token)'s next state, whether a state leads on."""

    def __init__(self, vocab: int):
        self.lock = threading.Lock()
        self.mask_of: dict = {}           # a state's view → its row of `bank`
        self.bank = torch.zeros(64, vocab, dtype=torch.bool)   # grows by doubling
        self.size = 0
        self.next: dict = {}              # (state, id) → state
        self.alive: dict = {}             # state → whether any token follows it


class _Dead:
    """The state of a row that took a forbidden token: only the end is left."""

    def __repr__(self) -> str:
        return "DEAD"


_DEAD = _Dead()
