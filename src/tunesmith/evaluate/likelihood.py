"""How likely does a model find some pieces? Bits per token on any files its codec reads.

The same function computes training's validation loss, so evaluating a model
on its own validation pieces gives its validation figure: every piece from a
zero state, `start … end`, each predicted token counted once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tunesmith import TunesmithError, bundle, corpus, data, log
from tunesmith.evaluate.tokens import evaluate_tokens


@dataclass
class Likelihood:
    pieces: int
    skipped: list[tuple[str, str]]
    tokens: int             # predicted tokens (each piece's symbols and its end)
    units: int | None       # the codec's loss unit (characters for text) in the pieces, where it has one
    bits_per_token: float
    accuracy: float
    unit: str | None = None  # that unit's name ("character")

    @property
    def bits_per_unit(self) -> float | None:
        if not self.units:
            return None
        return self.bits_per_token * self.tokens / self.units

    @property
    def characters(self) -> int | None:
        return self.units if self.unit == "character" else None

    @property
    def bits_per_character(self) -> float | None:
        return self.bits_per_unit if self.unit == "character" else None

    def to_json(self) -> dict:
        data = {"pieces": self.pieces, "skipped": len(self.skipped), "tokens": self.tokens,
                "characters": self.characters, "bits_per_token": self.bits_per_token,
                "bits_per_character": self.bits_per_character, "accuracy": self.accuracy}
        if self.unit and self.unit != "character":
            data.update({f"{self.unit}s": self.units, f"bits_per_{self.unit}": self.bits_per_unit})
        return data


def read_for(codec, spec: list[str], style: str | None = None, show_progress: bool = True) -> corpus.Corpus:
    """Read files the way the model's training corpus was read."""
    loaded = corpus.load(spec, options=codec.reading(), show_progress=show_progress)
    if style is not None:
        codec.style_id(style)
        for piece in loaded.pieces:
            piece.meta["style"] = style
    for piece in loaded.pieces:
        if piece.meta.get("style") and piece.meta["style"] not in codec.styles:
            raise TunesmithError(f"{piece.name} is of style {piece.meta['style']!r}, which the model does not "
                                 f"know (it knows: {', '.join(codec.styles) or 'none'})")
        if not codec.styles:
            piece.meta["style"] = None
    return loaded


def evaluate(model_path: str, spec: list[str], style: str | None = None, device: str = "cpu",
             show_progress: bool = True) -> Likelihood:
    loaded = bundle.load(model_path, device)
    codec = loaded.codec
    pieces = read_for(codec, spec, style, show_progress)
    corpus.report(pieces)
    arrays, skipped, units = [], list(pieces.skipped), 0
    for piece in pieces.pieces:
        try:
            arrays.append(codec.encode(piece))
        except TunesmithError as exc:  # a symbol the model never saw: that piece cannot be scored
            skipped.append((piece.name, str(exc)))
            continue
        units += codec.units(piece)
    if not arrays:
        raise TunesmithError(f"none of the {len(pieces.pieces)} pieces could be scored by this model"
                             + (f" (e.g. {skipped[0][0]}: {skipped[0][1]})" if skipped else ""))
    dropped = len(pieces.pieces) - len(arrays)
    if dropped:
        log.warn(f"{dropped} pieces have symbols the model never saw and are left out, e.g. {skipped[-1][1]}")
    tokens = data.TokenSet.from_arrays(arrays)
    result = evaluate_tokens(loaded.model, tokens, torch.device(device))
    return Likelihood(len(arrays), skipped, result["tokens"], units if codec.loss_unit else None,
                      result["bits"], result["accuracy"], codec.loss_unit)
