"""Held-out likelihood under the model's grammar: each step's distribution renormalised over the
tokens the decoding constraint allows, as sampling draws from it.

Renormalising over a set that holds the true token can only raise its probability, so on the pieces
the grammar accepts the constrained figure is at most the free one; a piece the grammar refuses
somewhere (its next token is forbidden) cannot be scored under it and is counted instead. Both
figures are over the same accepted pieces, so they compare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from tunesmith import TunesmithError
from tunesmith.nets import LanguageModel

LN2 = math.log(2)


@dataclass
class Constrained:
    pieces: int          # pieces the grammar accepts, scored
    refused: list[tuple[str, int, str]]   # (piece, position, the symbol there) the grammar forbids
    tokens: int
    units: int | None    # characters of the scored pieces (text models)
    free_bits: float     # bits per token of the scored pieces without the grammar
    bits: float          # bits per token with each step renormalised over the allowed tokens

    def per_unit(self, bits: float) -> float | None:
        return bits * self.tokens / self.units if self.units else None

    def to_json(self) -> dict:
        return {"pieces": self.pieces, "refused": len(self.refused), "tokens": self.tokens,
                "free_bits_per_token": self.free_bits, "constrained_bits_per_token": self.bits,
                "free_bits_per_unit": self.per_unit(self.free_bits),
                "constrained_bits_per_unit": self.per_unit(self.bits),
                "refused_examples": [list(r) for r in self.refused[:10]]}


@torch.inference_mode()
def constrained_likelihood(model: LanguageModel, codec, pieces: list[tuple[str, np.ndarray, int]],
                           device: torch.device) -> Constrained:
    """`pieces`: (name, ids from the codec's `encode`, units). Each piece from a zero state."""
    rule = codec.constraint()
    if rule is None:
        raise TunesmithError("this model's codec has no grammar to score under (a --constrained "
                             "figure needs an ABC or **kern character model)")
    was_training = model.training
    model.eval()
    prefix = 2 if codec.styles else 1          # the start token, and a style token after it
    free = con = 0.0
    tokens = units = scored = 0
    refused = []
    for name, ids, piece_units in pieces:
        x = torch.as_tensor(ids[None, :-1], dtype=torch.long, device=device)
        logp = torch.log_softmax(model(x)[0][0].float(), -1).cpu()      # (len - 1, vocab)
        targets = ids[1:].tolist()
        rule.start(1, ids[:prefix].tolist())
        piece_free = piece_con = 0.0
        for position in range(prefix - 1, len(targets)):
            token = targets[position]
            row = logp[position]
            allowed = rule.allowed()[0]
            if not bool(allowed[token]):
                refused.append((name, position + 1, codec.symbols[token]))
                break
            piece_con -= float(row[token] - torch.logsumexp(row[allowed], 0))
            piece_free -= float(row[token])
            rule.advance(torch.tensor([token]))
        else:
            free += piece_free + _style_nll(logp, targets, prefix)
            con += piece_con + _style_nll(logp, targets, prefix)
            tokens += len(targets)
            units += piece_units
            scored += 1
    model.train(was_training)
    if not scored:
        raise TunesmithError(f"the grammar refuses every one of the {len(pieces)} pieces"
                             + (f" (e.g. {refused[0][0]} at symbol {refused[0][1]}: {refused[0][2]!r})"
                                if refused else ""))
    return Constrained(scored, refused, tokens, units or None, free / tokens / LN2, con / tokens / LN2)


def _style_nll(logp: torch.Tensor, targets: list[int], prefix: int) -> float:
    """The style token's own loss (it comes before the grammar starts), the same in both figures."""
    return -float(logp[0, targets[0]]) if prefix == 2 else 0.0
