"""What a run shows on the terminal besides log lines: the progress bar's summary and the previews."""

from __future__ import annotations

import torch

from tunesmith.codecs import Codec
from tunesmith.nets import LanguageModel
from tunesmith.sample import generate


def preview(model: LanguageModel, codec: Codec, length: int, device: torch.device, seed: int) -> str:
    """One piece sampled at temperature 0.8, to see how training goes."""
    pieces = generate(model, codec, n=1, temperature=0.8, max_length=length, seed=seed, device=device)
    return pieces[0].text


def postfix(row: dict, deadline: float | None, elapsed: float) -> str:
    """The progress bar's summary of a metrics row, and the time left under --minutes."""
    parts = [f"loss {row['train_bits']:.3f}"]
    if "val_bits" in row:
        parts.append(f"val {row['val_bits']:.3f}")
    parts.append(f"{row['tokens_per_s']:,.0f} tok/s")
    if deadline:
        left = max(0, deadline - elapsed)
        parts.append(f"{int(left // 60)}:{int(left % 60):02d} left")
    return ", ".join(parts)


def clip_lines(text: str, lines: int = 12) -> str:
    rows = text.split("\n")
    return "\n".join(rows[:lines]) + (f"\n... ({len(rows) - lines} more lines)" if len(rows) > lines else "")
