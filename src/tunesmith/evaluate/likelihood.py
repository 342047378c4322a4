"""How likely does a model find some pieces? Bits per token on any files its codec reads.

The same function computes training's validation loss, so evaluating a model
on its own validation pieces gives its validation figure: every piece from a
zero state, `start … end`, each predicted token counted once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import math

import numpy as np
import torch

from tunesmith import TunesmithError, bundle, corpus, data, log
from tunesmith.evaluate.tokens import evaluate_tokens

if TYPE_CHECKING:
    from tunesmith.adapt import Adapted
    from tunesmith.evaluate.constrained import Constrained


@dataclass
class Likelihood:
    pieces: int             # pieces scored
    skipped: list[tuple[str, str]]   # files and pieces that were not scored, and why
    tokens: int             # predicted tokens (each piece's symbols and its end)
    units: int | None       # the codec's loss unit (characters for text) in the pieces, where it has one
    bits_per_token: float
    accuracy: float
    unit: str | None = None  # that unit's name ("character")
    unknown: int | None = None   # tokens that were `<unk>` (symbols the model never saw); None: it has none
    pieces_left_out: int = 0     # pieces read but not scored: a symbol the model never saw (models without <unk>)
    constrained: "Constrained | None" = None   # the figure under the grammar, where asked
    averaged: dict | None = None  # grid models: the figure averaged over keys, where asked (evaluate/keys.py)
    written: int | None = None   # the units as the files write them, where reading rewrote the pieces (ABC
    # lengths read in one unit note length); None where they are `units`
    rewriting: str | None = None   # then what reading rewrote, in words (`Codec.rewriting`)
    adapted: "Adapted | None" = None   # the figure with the model adapting as it reads, where asked

    def adapted_per_unit(self) -> tuple[float | None, float | None]:
        """The adapted figure's bits per unit as read and per unit as the files write them."""
        if self.adapted is None or not self.units:
            return None, None
        bits = self.adapted.bits * self.adapted.tokens
        return bits / self.units, (bits / self.written if self.written else None)

    @property
    def bits_per_written_unit(self) -> float | None:
        """The same total of bits per unit of the pieces as their files write them: a figure that
        compares across readings (a tune read in L:1/8 has fewer characters than in its book's L:1/4)."""
        if not self.written:
            return None
        return self.bits_per_token * self.tokens / self.written

    @property
    def unknown_share(self) -> float | None:
        """The share of the predicted tokens that were symbols the model never saw."""
        if self.unknown is None or not self.tokens:
            return None
        return self.unknown / self.tokens

    @property
    def left_out_share(self) -> float:
        """The share of the pieces read that were left out (symbols a model without <unk> never saw)."""
        given = self.pieces + self.pieces_left_out
        return self.pieces_left_out / given if given else 0.0

    @property
    def bits_per_unit(self) -> float | None:
        if not self.units:
            return None
        return self.bits_per_token * self.tokens / self.units

    @property
    def nats_per_frame(self) -> float | None:
        """A grid model's figure as the field reports it: nats per time step (frame)."""
        return self.bits_per_unit * math.log(2) if self.unit == "frame" and self.units else None

    @property
    def characters(self) -> int | None:
        return self.units if self.unit == "character" else None

    @property
    def bits_per_character(self) -> float | None:
        return self.bits_per_unit if self.unit == "character" else None

    def to_json(self) -> dict:
        data = {"pieces": self.pieces, "skipped": len(self.skipped), "tokens": self.tokens,
                "characters": self.characters, "bits_per_token": self.bits_per_token,
                "bits_per_character": self.bits_per_character, "accuracy": self.accuracy,
                "unknown": self.unknown, "unknown_share": self.unknown_share,
                "pieces_left_out": self.pieces_left_out, "left_out_share": self.left_out_share}
        if self.nats_per_frame is not None:
            data["nats_per_frame"] = self.nats_per_frame
        if self.constrained is not None:
            data["constrained"] = self.constrained.to_json()
        if self.averaged is not None:
            data["averaged_over_keys"] = self.averaged
        if self.adapted is not None:
            data["adapted"] = self.adapted.to_json()
            per_unit, per_written = self.adapted_per_unit()
            if per_unit is not None:
                data["adapted"][f"bits_per_{self.unit}"] = per_unit
            if per_written is not None:
                data["adapted"][f"bits_per_{self.unit}_as_written"] = per_written
        if self.written is not None:
            data.update({"read_with": self.rewriting, f"{self.unit}s_as_written": self.written,
                         f"bits_per_{self.unit}_as_written": self.bits_per_written_unit})
        if self.unit and self.unit != "character":
            data.update({f"{self.unit}s": self.units, f"bits_per_{self.unit}": self.bits_per_unit})
        return data

    def unknown_note(self) -> str:
        """What the line `evaluate` prints says of symbols the model never saw ("" when nothing)."""
        if self.unknown is not None:
            return (f"{self.unknown:,} of {self.tokens:,} tokens ({self.unknown_share:.1%}) were symbols the "
                    f"model never saw")
        if self.pieces_left_out:
            return (f"{self.pieces_left_out} of {self.pieces + self.pieces_left_out} pieces "
                    f"({self.left_out_share:.1%}) were left out: they hold symbols the model never saw, and "
                    f"it has no unknown symbol to score them with")
        return ""


def read_for(codec, spec: list[str], style: str | None = None, show_progress: bool = True,
             split: str | None = None) -> corpus.Corpus:
    """Read files the way the model's training corpus was read (`split`: another split of a roll file)."""
    options = codec.reading()
    if split is not None:
        options = replace(options, split=split)
    loaded = corpus.load(spec, options=options, show_progress=show_progress)
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
             show_progress: bool = True, constrained: bool = False, split: str | None = None,
             average_keys: int = 0, adapt: tuple[float, int] | None = None) -> Likelihood:
    """Every piece read, scored. A symbol the model never saw is its `<unk>`; a model saved before
    `<unk>` came cannot score a piece with one, which is left out and counted. `constrained`: also
    the figure under the model's grammar (`Likelihood.constrained`, see evaluate/constrained.py).
    `average_keys`: also the figure of a grid model averaged over that many keys (evaluate/keys.py).
    `adapt` (learning rate, segment): also the figure with the model adapting as it reads
    (`Likelihood.adapted`, see adapt.py)."""
    loaded = bundle.load(model_path, device)
    codec = loaded.codec
    if average_keys:    # (a model or count it cannot take: said before any reading)
        from tunesmith.evaluate.keys import key_maps
        maps = key_maps(codec, average_keys)
    if adapt is not None:
        from tunesmith.adapt import check_settings
        check_settings(*adapt)
    pieces = read_for(codec, spec, style, show_progress, split)
    corpus.report(pieces)
    arrays, skipped, units, unknown, left_out, written = [], list(pieces.skipped), 0, 0, [], 0
    named = []      # (name, ids, units) for the figure under the grammar
    for piece in pieces.pieces:
        try:
            ids = codec.encode(piece)
        except TunesmithError as exc:  # a symbol a model without <unk> never saw: it cannot score the piece
            left_out.append((piece.name, str(exc)))
            continue
        arrays.append(ids)
        named.append((piece.name, ids, codec.units(piece)))
        units += named[-1][2]
        written += codec.written_units(piece)
        if codec.unk_id is not None:
            unknown += int(np.count_nonzero(ids == codec.unk_id))
    skipped += left_out
    if not arrays:
        raise TunesmithError(f"none of the {len(pieces.pieces)} pieces could be scored by this model"
                             + (f" (e.g. {skipped[0][0]}: {skipped[0][1]})" if skipped else ""))
    if left_out:
        log.warn(f"{len(left_out)} of {len(pieces.pieces)} pieces have symbols the model never saw and are "
                 f"left out, e.g. {left_out[0][1]}")
    tokens = data.TokenSet.from_arrays(arrays)
    result = evaluate_tokens(loaded.model, tokens, torch.device(device))
    under = None
    if constrained:
        from tunesmith.evaluate.constrained import constrained_likelihood
        under = constrained_likelihood(loaded.model, codec, named, torch.device(device))
    averaged = None
    if average_keys:
        from tunesmith.evaluate.keys import averaged_over_keys
        averaged = averaged_over_keys(loaded.model, maps, arrays, torch.device(device))
        averaged["nats_per_frame"] = averaged["bits"] * averaged["tokens"] / units * math.log(2)
    adapted = None
    if adapt is not None:
        from tunesmith.adapt import adapted_likelihood
        adapted = adapted_likelihood(loaded.model, arrays, torch.device(device), *adapt,
                                     show_progress=show_progress)
    return Likelihood(len(arrays), skipped, result["tokens"], units if codec.loss_unit else None,
                      result["bits"], result["accuracy"], codec.loss_unit,
                      unknown if codec.unk_id is not None else None, len(left_out), under, averaged,
                      *((written, codec.rewriting()) if codec.loss_unit and written != units else (None, None)),
                      adapted=adapted)
