"""Bits per token and next-token accuracy of a model on encoded pieces: training's validation
figure and `tunesmith evaluate`'s likelihood."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tunesmith import data
from tunesmith.nets import LanguageModel

LN2 = math.log(2)


@torch.inference_mode()
def evaluate_tokens(model: LanguageModel, tokens: data.TokenSet, device: torch.device,
                    batch_size: int = 32, chunk: int = 512) -> dict:
    """Negative log-likelihood of every piece from a zero state: bits per token, accuracy.

    Pieces are evaluated independently, so the number does not depend on batching.
    """
    was_training = model.training
    model.eval()
    order = sorted(range(len(tokens)), key=tokens.length)
    total_nll, correct, count = 0.0, 0, 0
    for start in range(0, len(order), batch_size):
        group = order[start:start + batch_size]
        state = None
        for c in data.chunks(tokens, group, chunk):
            x = torch.from_numpy(c.inputs).to(device)
            y = torch.from_numpy(c.targets).to(device)
            logits, state = model(x, state)
            mask = y != data.IGNORE
            total_nll += F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1),
                                         ignore_index=data.IGNORE, reduction="sum").item()
            correct += ((logits.argmax(-1) == y) & mask).sum().item()
            count += mask.sum().item()
    model.train(was_training)
    if count == 0:
        return {"bits": float("nan"), "accuracy": float("nan"), "tokens": 0}
    return {"bits": total_nll / count / LN2, "accuracy": correct / count, "tokens": count}
