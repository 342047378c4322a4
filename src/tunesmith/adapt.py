"""A model that learns from a text as it reads it: a copy of the model whose weights take a plain
gradient step after every few tokens (dynamic evaluation, Krause et al. 2018).

Two uses:
- `evaluate --adapt`: the pieces are read in their files' order, each from a zero state as
  `evaluate` reads them; each segment is scored first, with the weights as they are, and only
  then learnt from. So every token's probability still depends only on what came before it (an
  honest code length of the pieces in that order), but by a book's tenth hornpipe the model has
  learnt what the first nine had in common: a field its corpus never wrote, the book's favourite
  figures. It tells "how far is this book from the model's style once it may learn the book's
  habits" apart from the static figure's "how much of this book is new to it", and is reported
  beside the static figure, never instead of it.
- `continue --adapt`: before continuing a person's tune, the model reads it a few times over and
  learns from it, so the continuation follows that tune's habits more closely.

The model handed in is never changed: a copy learns.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tunesmith import TunesmithError, log
from tunesmith.nets import LanguageModel
from tunesmith.options import (CONTINUE_ADAPT_LR, CONTINUE_ADAPT_PASSES, CONTINUE_ADAPT_SEGMENT, EVALUATE_ADAPT_LR,
                               EVALUATE_ADAPT_SEGMENT)

LN2 = math.log(2)


def check_settings(lr: float, segment: int, passes: int = 1) -> None:
    """Refuse settings out of range, in the flags' words."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and 0 <= lr <= 100):
        raise TunesmithError(f"--adapt-lr must be a number from 0 to 100 (0: no learning), not {lr!r}")
    if not (isinstance(segment, int) and 1 <= segment <= 100_000):
        raise TunesmithError(f"--adapt-segment must be a whole number of tokens from 1 to 100000, not {segment!r}")
    if not (isinstance(passes, int) and 1 <= passes <= 100):
        raise TunesmithError(f"--adapt-passes must be a whole number from 1 to 100, not {passes!r}")


class Learner:
    """A copy of `model` that reads token ids one segment at a time, learning from each (plain SGD
    on the segment's mean loss, the gradient's norm clipped at `clip`; no dropout)."""

    def __init__(self, model: LanguageModel, device: torch.device, lr: float, segment: int, clip: float = 1.0):
        check_settings(lr, segment)
        self.model = copy.deepcopy(model).to(device)
        self.model.eval()     # the weights move by what the text teaches, not by dropout's noise
        self.device, self.segment, self.clip = device, segment, clip
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimiser = torch.optim.SGD(self.params, lr=lr) if lr > 0 else None

    def read(self, ids: np.ndarray, bar=None) -> tuple[float, int, int]:
        """One piece from a zero state: (nats of its tokens as each segment was before learning from
        it, tokens predicted correctly, tokens)."""
        ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=self.device)
        nll, correct, count, state = 0.0, 0, 0, None
        # cuDNN's recurrent layers compute gradients only in training mode; the plain kernels do it
        # in eval mode too (and a CPU has only those)
        with torch.backends.cudnn.flags(enabled=False), torch.enable_grad():
            for start in range(0, len(ids_t) - 1, self.segment):
                y = ids_t[start + 1:start + self.segment + 1]
                logits, state = self.model(ids_t[start:start + len(y)][None], state)
                loss = F.cross_entropy(logits[0].float(), y, reduction="sum")
                nll += loss.item()
                correct += int((logits[0].argmax(-1) == y).sum())
                count += len(y)
                if self.optimiser is not None:
                    self.optimiser.zero_grad(set_to_none=True)
                    (loss / len(y)).backward()
                    torch.nn.utils.clip_grad_norm_(self.params, self.clip)
                    self.optimiser.step()
                state = tuple(s.detach() for s in state)
                if bar is not None:
                    bar.update(len(y))
        return nll, correct, count

    def learnt(self) -> LanguageModel:
        """The copy as it is now, for inference."""
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        return self.model


@dataclass
class Adapted:
    pieces: int
    tokens: int
    bits: float          # bits per token, the model learning as it reads
    accuracy: float
    lr: float
    segment: int

    def to_json(self) -> dict:
        return {"pieces": self.pieces, "tokens": self.tokens, "bits_per_token": self.bits,
                "accuracy": self.accuracy, "lr": self.lr, "segment": self.segment}


def adapted_likelihood(model: LanguageModel, arrays: list[np.ndarray], device: torch.device,
                       lr: float = EVALUATE_ADAPT_LR, segment: int = EVALUATE_ADAPT_SEGMENT,
                       show_progress: bool = True) -> Adapted:
    """`arrays`: each piece's ids from the codec's `encode`, in reading order, read by one Learner.
    lr 0 gives the static figure."""
    learner = Learner(model, device, lr, segment)
    nll, correct, count = 0.0, 0, 0
    shown = (log.progress(sum(max(0, len(a) - 1) for a in arrays), "adapting", unit="token") if show_progress
             else contextlib.nullcontext())
    with shown as bar:
        for ids in arrays:
            n, c, k = learner.read(ids, bar)
            nll, correct, count = nll + n, correct + c, count + k
    if count == 0:
        raise TunesmithError("no tokens to score")
    return Adapted(len(arrays), count, nll / count / LN2, correct / count, lr, segment)


def adapted_to(model: LanguageModel, ids: np.ndarray, device: torch.device, lr: float | None = None,
               segment: int = CONTINUE_ADAPT_SEGMENT, passes: int | None = None) -> LanguageModel:
    """A copy of `model` that has read `ids` (a primer: a person's tune) `passes` times (None:
    CONTINUE_ADAPT_PASSES), learning at `lr` (None: CONTINUE_ADAPT_LR)."""
    lr = CONTINUE_ADAPT_LR if lr is None else lr
    passes = CONTINUE_ADAPT_PASSES if passes is None else passes
    check_settings(lr, segment, passes)
    learner = Learner(model, device, lr, segment)
    for _ in range(passes):
        learner.read(ids)
    return learner.learnt()
