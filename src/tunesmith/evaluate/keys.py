"""A grid model's likelihood averaged over keys (`evaluate --average-keys N`).

At each step the next token's probability is the mean of the model's probabilities given the piece
as written and given it moved by +1, -1, +2, ... semitones (the first N-1 of `--augment`'s shifts),
each moved distribution read back in the piece's own key. This is one network used as an ensemble
of itself in N keys, and still a distribution over pieces: the weights of a step depend only on the
tokens before it, and a key whose move would take a pitch off the 88 keys gives that token no
probability and drops out from the token after it (the key as written never drops out). So the
figure is an exact negative log-likelihood like the plain one, and sums to at most one over rolls.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tunesmith import TunesmithError
from tunesmith.codecs.base import SHIFTS, augment_shifts
from tunesmith.nets import LanguageModel

LN2 = math.log(2)


def key_maps(codec, keys: int) -> torch.Tensor:
    """(keys, vocab): each token's id in each key, -1 where it has none; the first row is the key as written."""
    from tunesmith.codecs.grid import GridCodec
    from tunesmith.codecs.grid_keys import shift_map

    if not isinstance(codec, GridCodec):
        raise TunesmithError("--average-keys needs a model on a time grid (its pitches are tokens of their own); "
                             f"this one is a {codec.kind} model")
    if not 1 <= keys <= len(SHIFTS) + 1:
        raise TunesmithError(f"--average-keys must be between 1 and {len(SHIFTS) + 1} (as written and moved "
                             f"{', '.join(f'{s:+d}' for s in SHIFTS)} semitones), not {keys}")
    shifts = [0, *augment_shifts(keys - 1)]
    return torch.as_tensor(np.stack([shift_map(codec.symbols, codec.index, s) for s in shifts]))


def mixed_log_probs(logp: torch.Tensor, maps: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """(steps, vocab) log-probabilities of the piece's own tokens, the mean over the keys alive at each
    step of each key's distribution read back through its map. `logp` (keys, steps, vocab) is each
    key's own; `alive` (keys, steps) which keys take part (the first always)."""
    steps = logp.size(1)
    back = logp.gather(2, maps.clamp(min=0)[:, None, :].expand(-1, steps, -1))
    back = back.masked_fill(maps[:, None, :] < 0, float("-inf"))     # a token with no word in that key
    back = back.masked_fill(~alive[:, :, None], float("-inf"))
    return torch.logsumexp(back, 0) - alive.sum(0).clamp(min=1).log()[:, None]


@torch.inference_mode()
def averaged_over_keys(model: LanguageModel, maps: torch.Tensor, arrays: list[np.ndarray],
                       device: torch.device, chunk: int = 512) -> dict:
    """Bits per token and accuracy of `arrays` (encoded pieces, start and end tokens included) under
    the model averaged over the keys of `maps` (`key_maps`)."""
    keys = len(maps)
    maps = maps.to(device)
    was_training = model.training
    model.eval()
    total, correct, count = 0.0, 0, 0
    for ids in arrays:
        x = torch.as_tensor(ids, dtype=torch.long, device=device)
        moved = maps[:, x]                                   # (keys, length)
        off = moved < 0
        inputs = torch.where(off, x.expand_as(moved), moved)  # a dropped key's inputs no longer matter
        # a key takes part in predicting token t+1 where it could write tokens 0..t
        alive = off.long().cumsum(1)[:, :-1] == 0            # (keys, length-1)
        state = None
        for start in range(0, len(ids) - 1, chunk):
            stop = min(start + chunk, len(ids) - 1)
            logits, state = model(inputs[:, start:stop], state)
            mixed = mixed_log_probs(torch.log_softmax(logits.float(), -1), maps, alive[:, start:stop])
            target = x[start + 1:stop + 1]
            total -= mixed.gather(1, target[:, None]).sum().item()
            correct += (mixed.argmax(-1) == target).sum().item()
            count += stop - start
    model.train(was_training)
    return {"bits": total / count / LN2, "accuracy": correct / count, "tokens": count, "keys": keys}
