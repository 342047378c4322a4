"""Decoding constraints: what a codec may forbid the sampler to write next.

A constraint keeps one state per row of the batch being sampled. The sampler
calls, for the whole batch at once:

    constraint.start(rows, prefix)   every row begins after the same ids (BOS, style, primer)
    constraint.allowed()             (rows, vocab) bool: the tokens each row may take next
    constraint.permits(tokens)       (rows,) bool: whether each row may take the token it drew
    constraint.refused(tokens)       the same as a list of the rows refused (tokens a list: no tensor per step)
    constraint.allowed_rows(rows)    allowed() for some rows only
    constraint.permits_rows(rows, tokens)  permits() for some rows only
    constraint.first_permitted(rows, candidates)  for some rows, the first of their candidate tokens each may take
    constraint.advance(tokens)       each row took its token
    constraint.keep(rows)            finished rows left the batch: keep these (a bool mask), in order

`allowed` must leave every row at least one token (the end of the piece, when
nothing else fits). `permits` lets the sampler draw first and mask only the rows whose draw
was forbidden, which gives the same distribution as masking every row (see sample.py) at the cost of
one look-up per row where the model mostly writes what the grammar allows. `TableConstraint`
(codecs/table_constraint.py) is the general finite-state case: the states and their transitions in
one table, so `allowed` is one indexing operation and `advance` one gather, whatever the batch size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import torch

from tunesmith import TunesmithError
from tunesmith.codecs.grammar_store import _DEAD, DEAD_NUMBER, GrammarCache   # (GrammarCache: imported from here too)


class Constraint(ABC):
    WIND_DOWN: float | None = None
    """Past this share of the length budget a row that may end ends (None: never). A text grammar
    sets it: a tune that runs on to the budget is cut mid-bar, and a tune that rambles for
    thousands of characters is no tune either."""

    @abstractmethod
    def start(self, rows: int, prefix: Sequence[int]) -> None: ...

    def wind_down(self) -> None:
        """The sampler has reached WIND_DOWN: from here a grammar may steer each row towards an end
        (close what is open and stays open: a repeat). Default: nothing changes."""

    @abstractmethod
    def allowed(self) -> torch.Tensor: ...

    @abstractmethod
    def advance(self, tokens: torch.Tensor) -> None: ...

    @abstractmethod
    def keep(self, rows: torch.Tensor) -> None: ...

    def permits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Whether each row may take its token: `allowed()[row, token]` (a grammar answers it cheaper)."""
        return self.allowed().gather(1, tokens[:, None]).squeeze(1)

    def refused(self, tokens: list[int]) -> list[int]:
        """The rows (indices, in order) whose token of `tokens` (one per row) the constraint forbids:
        `permits` for a sampler that looks at the few refused rows only."""
        ok = self.permits(torch.tensor(tokens, dtype=torch.long)).tolist()
        return [row for row, fine in enumerate(ok) if not fine]

    def allowed_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """`allowed()` for the rows `rows` (indices) only."""
        return self.allowed()[rows]

    def permits_rows(self, rows: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """`permits` for the rows `rows` (indices) only, each with its token."""
        return self.allowed_rows(rows).gather(1, tokens[:, None].to(torch.long)).squeeze(1)

    def first_permitted(self, rows: torch.Tensor, candidates: list[list[int]]) -> list[int]:
        """For each row of `rows` (indices), the first of its candidate tokens it may take (entries of
        -1 are no candidate), or -1 where it may take none of them."""
        allowed = self.allowed_rows(rows)
        return [next((t for t in tokens if t >= 0 and bool(allowed[k, t])), -1) for k, tokens in enumerate(candidates)]

    def last_end(self, ids: Sequence[int], end_id: int, prefix_length: int = 1) -> int | None:
        """The longest start of one piece's ids (BOS first, at least the prefix and one id more) after
        which the constraint lets it end, or None: where a piece cut at the length cap can end."""
        self.start(1, list(ids[:prefix_length]))
        end, best = torch.tensor([end_id]), None
        for position in range(prefix_length, len(ids) + 1):
            if position > prefix_length and bool(self.permits(end)[0]):
                best = position
            if position == len(ids) or not bool(self.permits(torch.tensor([ids[position]]))[0]):
                break
            self.advance(torch.tensor([ids[position]]))
        return best

    def accepts(self, ids: Sequence[int], prefix_length: int = 1) -> int | None:
        """Follow one piece's ids (BOS first) as the sampler would: the position of the first id the
        constraint forbids, or None when it allows them all. For tests and for checking a corpus."""
        self.start(1, list(ids[:prefix_length]))
        for position in range(prefix_length, len(ids)):
            if not bool(self.allowed()[0, ids[position]]):
                return position
            self.advance(torch.tensor([ids[position]]))
        return None


class GrammarConstraint(Constraint):
    """A constraint written as a reader of the codec's symbols, one step at a time.

    A subclass gives the reader: `initial()` its state before the first symbol, `step(state, symbol)`
    the state after a symbol or None where the symbol is forbidden, and `can_end(state)` whether the
    piece may end there. States are immutable and hashable (tuples, frozen dataclasses). Each state
    is numbered the first time it is seen, and each (state, token)'s next state, each state's mask and
    whether a state leads on are worked out once and looked up after by number: a step costs an
    integer look-up per row and one gather for the whole batch. A grammar whose states hold unbounded
    detail (a title's text, say) should leave it out of the state."""

    CACHE_LIMIT = 200_000   # states remembered; past it the next batch starts a new store (memory stays bounded)
    NO_DEAD_ENDS = False    # a grammar whose every state leads on sets it: the one-step look-ahead is skipped

    def __init__(self, symbols: Sequence[str], end_id: int, skip_ids: Sequence[int] = (),
                 cache: "GrammarCache | None" = None):
        self.symbols = list(symbols)
        self.vocab = len(self.symbols)
        self.end_id = end_id
        self.skip = set(skip_ids)          # ids never allowed (start, <unk>, styles)
        self.cache = cache if cache is not None else GrammarCache(self.vocab)
        self.store = self.cache.store
        self._rows: list[int] = []         # each row's state, by number
        # `refused`'s rows (the list itself: any change of the rows makes a new one), tokens and next states
        self._checked: tuple[list[int], list[int], list[int]] | None = None
        # the orders `_lives` tries tokens in, one per token that led to the state: the tokens that
        # led on, latest first (states reached the same way mostly go on the same way): a new state is
        # settled in about two steps (1.8 on the folk model's cold batch of 100; 2.5 when only the
        # last winner moved to the front)
        self._tried = [end_id, *(t for t in range(self.vocab) if t != end_id and t not in self.skip)]
        self._probes: dict[int, list[int]] = {}
        self._winding: dict[int, int] | None = None   # after `wind_down`: each state's closing one (`_closed`)

    # ---- what a grammar defines -------------------------------------------------------------------

    @abstractmethod
    def initial(self): ...

    @abstractmethod
    def step(self, state, symbol: str): ...

    @abstractmethod
    def can_end(self, state) -> bool: ...

    def view(self, state):
        """What of a state decides its mask: states with the same view share one (default: all of it)."""
        return state

    def closing(self, state):
        """The state as it is read past the wind-down (see `wind_down`): the same, or one whose reader
        refuses more, so that the row can reach an end (default: the same). A row goes over at its first
        state this changes, so a grammar leaves a state unchanged where its closing reader could not
        finish what the row began."""
        return state

    def surely_leads_on(self, state) -> bool:
        """True where the grammar can tell without a step that some symbol may follow `state` (the
        look-ahead then tries none); False where it cannot tell. A grammar that overrides it answers
        True only where a step would find such a symbol: the masks stay the same, only cheaper."""
        return False

    # ---- states by number -------------------------------------------------------------------------

    def _number(self, state) -> int:
        store = self.store
        with self.cache.lock:         # the web app samples with one model in several threads
            # (one look-up: a state is hashed once, and most states a batch numbers are new)
            found = store.ids.setdefault(state, len(store.states))
            if found == len(store.states):
                store.states.append(state)
        return found

    def _next(self, number: int, token: int) -> int:
        """The number of the state after `token`, or -1 where the grammar forbids it."""
        store = self.store
        key = number * self.vocab + token
        found = store.next.get(key)
        if found is not None:
            return found
        state = store.states[number]
        if state is _DEAD:
            nxt = _DEAD if token == self.end_id else None
        elif token == self.end_id:
            nxt = state if self.can_end(state) else None
        elif token in self.skip:
            nxt = None
        else:
            nxt = self.step(state, self.symbols[token])
        found = -1 if nxt is None else self._number(nxt)
        store.next[key] = found
        return found

    def follow(self, state, token: int):
        """The state after `token`, or None where the grammar forbids it."""
        found = self._next(self._number(state), token)
        return None if found < 0 else self.store.states[found]

    def _lives(self, number: int, token: int) -> bool:
        """Whether state `number` (reached by `token`) exists and leads on: the end itself, or some token."""
        if number < 0:
            return False
        if token == self.end_id or self.NO_DEAD_ENDS:
            return True
        store = self.store
        found = store.alive.get(number)
        if found is None:
            state = store.states[number]
            if self.surely_leads_on(state):
                found = True
            else:
                # states with one view take the same tokens: whether one leads on is known for all
                key = self.view(state)
                found = store.alive_view.get(key)
                if found is None:
                    found = store.alive_view[key] = self._leads_on(number, token)
            store.alive[number] = found
        return found

    def _leads_on(self, number: int, came_by: int) -> bool:
        probe = self._probes.get(came_by)
        if probe is None:
            probe = self._probes[came_by] = list(self._tried)
        step = self._next
        for k, t in enumerate(probe):
            if step(number, t) >= 0:
                if k:   # to the front, the others kept in order of use (8% fewer grammar steps)
                    probe.insert(0, probe.pop(k))
                return True
        return False

    def _mask_row(self, number: int) -> int:
        store = self.store
        found = store.row_of.get(number)
        if found is not None:
            return found
        key = self.view(store.states[number])
        found = store.mask_of.get(key)
        if found is None:
            # a token is allowed where the grammar takes it and the state after it is no dead end (one
            # step ahead: a grammar's deeper dead ends are its bug; the end is then the way out)
            mask = torch.tensor([self._lives(self._next(number, t), t) for t in range(self.vocab)])
            if not bool(mask.any()):
                mask[self.end_id] = True
            with self.cache.lock:
                found = store.add_mask(key, mask)
        store.row_of[number] = found
        return found

    # ---- the Constraint interface -----------------------------------------------------------------

    @property
    def rows(self) -> list:
        """Each row's state."""
        return [self.store.states[i] for i in self._rows]

    def start(self, rows: int, prefix: Sequence[int]) -> None:
        self.store = self.cache.fresh(self.CACHE_LIMIT)
        self._winding = None
        number = self._number(self.initial())
        for position, token in enumerate(prefix[1:], 1):
            if token in self.skip and position == 1:   # a style token: the text starts after it
                continue
            number = self._next(number, token)
            if number < 0:
                raise TunesmithError(f"the primer breaks the model's grammar at its symbol {position} "
                                     f"({self.symbols[token]!r})")
        self._rows = [number] * rows

    def allowed(self) -> torch.Tensor:
        return self._masks(self._rows)

    def allowed_rows(self, rows: torch.Tensor) -> torch.Tensor:
        return self._masks([self._rows[i] for i in rows.tolist()])

    def _masks(self, numbers: list[int]) -> torch.Tensor:
        found = torch.tensor([self._mask_row(i) for i in numbers], dtype=torch.long)
        with self.cache.lock:
            return self.store.bank[found]

    def permits(self, tokens: torch.Tensor) -> torch.Tensor:
        # the same answer as the mask's (a token is allowed where it leads on); where no token leads
        # on, the mask's fallback allows the end, which this leaves to allowed_rows
        return self._permitted(self._rows, tokens.tolist())

    def permits_rows(self, rows: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self._permitted([self._rows[i] for i in rows.tolist()], tokens.tolist())

    def _permitted(self, numbers: list[int], tokens: list[int]) -> torch.Tensor:
        return torch.tensor(self._verdicts(self._after(numbers, tokens), tokens), dtype=torch.bool)

    def _verdicts(self, found: list[int], tokens: list[int]) -> list[bool]:
        """Whether each row may take its token, given the states after them (`_after`)."""
        alive, end, lives = self.store.alive, self.end_id, self._lives
        # (what is known is looked up here; `_lives` works out the rest)
        return [n >= 0 and (t == end or bool(alive.get(n)) or lives(n, t)) for n, t in zip(found, tokens)]

    def refused(self, tokens: list[int]) -> list[int]:
        # `_permitted` as a list of the rows it refuses; the next states are kept for `advance`, which
        # mostly takes the same tokens
        found = self._after(self._rows, tokens)
        self._checked = (self._rows, list(tokens), found)    # (a copy: the sampler draws its refused rows again in it)
        return [row for row, ok in enumerate(self._verdicts(found, tokens)) if not ok]

    def _after(self, numbers: list[int], tokens: list[int]) -> list[int]:
        """`_next` for each row, its look-ups done in one pass (most rows' next states are known)."""
        get, vocab = self.store.next.get, self.vocab
        found = [get(i * vocab + t) for i, t in zip(numbers, tokens)]
        if None in found:
            step = self._next
            found = [step(i, t) if n is None else n for n, i, t in zip(found, numbers, tokens)]
        return found

    def first_permitted(self, rows: torch.Tensor, candidates: list[list[int]]) -> list[int]:
        # one grammar step per candidate tried where the state is new, no mask (see `permits`)
        step, lives = self._next, self._lives
        return [next((t for t in tokens if t >= 0 and lives(step(self._rows[i], t), t)), -1)
                for i, tokens in zip(rows.tolist(), candidates)]

    def last_end(self, ids: Sequence[int], end_id: int, prefix_length: int = 1) -> int | None:
        # the same walk as Constraint's, by state number: no tensor per symbol (a capped piece has thousands)
        self.start(1, list(ids[:prefix_length]))
        number, best, lives = self._rows[0], None, self._lives
        for position in range(prefix_length, len(ids) + 1):
            if position > prefix_length and lives(self._next(number, end_id), end_id):
                best = position
            if position == len(ids):
                break
            token = ids[position]
            nxt = self._next(number, token)
            if not lives(nxt, token):
                break
            number = nxt
        self._rows = [number]
        return best

    def wind_down(self) -> None:
        # each row goes over to its closing reader at its first state the grammar's `closing` changes:
        # between tokens (a token begun before, a bar line say, is finished as it was begun)
        self._winding = {}
        self._rows = self._closed(self._rows)

    def _closed(self, numbers: list[int]) -> list[int]:
        """Each state's closing state (`closing`), by number; worked out once per state."""
        memo, states = self._winding, self.store.states
        found = []
        for n in numbers:
            c = memo.get(n)
            if c is None:
                c = memo[n] = n if n < 0 or states[n] is _DEAD else self._number(self.closing(states[n]))
            found.append(c)
        return found

    def advance(self, tokens: torch.Tensor) -> None:
        # a token the mask forbade (a caller that does not mask) ends the row's grammar: keep it ending
        tokens = tokens.tolist()
        checked, self._checked = self._checked, None
        if checked is None or checked[0] is not self._rows:
            found = self._after(self._rows, tokens)
        elif checked[1] == tokens:     # the tokens `refused` looked at: their next states are known
            found = checked[2]
        else:                          # some rows drew again: only theirs are looked up
            step = self._next
            found = [n if t == was else step(i, t) for n, was, t, i in zip(checked[2], checked[1], tokens, self._rows)]
        self._rows = [n if n >= 0 else DEAD_NUMBER for n in found]
        if self._winding is not None:
            self._rows = self._closed(self._rows)

    def keep(self, rows: torch.Tensor) -> None:
        self._rows = [i for i, k in zip(self._rows, rows.tolist()) if k]
