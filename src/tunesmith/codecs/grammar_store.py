"""What a grammar constraint (codecs/constraint.py) has worked out, kept across sampling rounds: its states
by number, their transitions, whether each leads on, and the masks, in a store a cache hands out."""

from __future__ import annotations

import threading

import torch


class GrammarStore:
    """What a grammar has worked out, by state number: the states, each (state, token)'s next state,
    whether a state leads on, each state's mask (shared by states with the same view)."""

    def __init__(self, vocab: int):
        self.ids: dict = {_DEAD: DEAD_NUMBER}    # state → its number
        self.states: list = [_DEAD]
        self.next: dict[int, int] = {}           # number × vocab + token → number, -1: forbidden
        self.alive: dict[int, bool] = {}
        self.alive_view: dict = {}               # view → whether its states lead on
        self.row_of: dict[int, int] = {}         # number → its mask's row of `bank`
        self.mask_of: dict = {}                  # view → its row of `bank`
        with torch.inference_mode(False):        # see add_mask
            self.bank = torch.zeros(64, vocab, dtype=torch.bool)   # grows by doubling
        self.size = 0

    def add_mask(self, key, mask: torch.Tensor) -> int:
        found = self.mask_of.get(key)            # another thread may have added it
        if found is None:
            # a normal tensor even when the sampler (inference mode) grows it: a store outlives the
            # batch, and `accepts` or `evaluate --constrained` write to it outside inference mode
            with torch.inference_mode(False):
                if self.size == len(self.bank):
                    self.bank = torch.cat([self.bank, torch.zeros_like(self.bank)])
                self.bank[self.size] = mask
            found = self.mask_of[key] = self.size
            self.size += 1
        return found


class GrammarCache:
    """A grammar's store, shared by the constraints of one model (and one set of controls) across
    sampling rounds. A constraint keeps the store it started with, so a new store (when the old one
    grew past the limit) never disturbs a batch being sampled in another thread."""

    def __init__(self, vocab: int):
        self.lock = threading.Lock()
        self.vocab = vocab
        self.store = GrammarStore(vocab)

    def fresh(self, limit: int) -> GrammarStore:
        with self.lock:
            if len(self.store.states) > limit:
                self.store = GrammarStore(self.vocab)
            return self.store


class _Dead:
    """The state of a row that took a forbidden token: only the end is left."""

    def __repr__(self) -> str:
        return "DEAD"


_DEAD = _Dead()
DEAD_NUMBER = 0
