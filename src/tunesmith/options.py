"""What shapes sampled pieces: `SampleOptions` (every field's default, bounds and help, stated once)
and the compose defaults a model's card records. Used by `compose`, the command line and the web
app alike; it imports no torch, so flags and requests are checked before any model loads."""

from __future__ import annotations

import typing
from dataclasses import dataclass, replace

from tunesmith import TunesmithError
from tunesmith.evaluate.novelty import DEFAULT_MAX_COPY
from tunesmith.settings import setting

DEFAULT_MODEL = "folk"
# the settings of a model learning as it reads (adapt.py), here so that --help can state them without torch.
# evaluate --adapt: chosen on O'Neill's Music of Ireland (music21's corpus, its first 150 tunes) with a
# 3×256 character model trained on nine Nottingham books (learning rates 0.2 to 1.0, segments of 20 to
# 100 characters, with and without a pull back to the trained weights; README, "Held-out books")
EVALUATE_ADAPT_LR, EVALUATE_ADAPT_SEGMENT = 0.5, 20
# continue --adapt: chosen on that model's own validation tunes cut in half, the second half scored after
# learning from the first (learning rates 0.05 to 0.5, 1 to 8 passes; README)
CONTINUE_ADAPT_LR, CONTINUE_ADAPT_SEGMENT, CONTINUE_ADAPT_PASSES = 0.1, 20, 5
CARD_KEY = "compose"      # the card's section of measured compose defaults


def max_copy_notes(value: str) -> int | None:
    """--max-copy N|auto|off as a number of notes (None: off)."""
    if value == "off":
        return None
    if value == "auto":
        return DEFAULT_MAX_COPY
    try:
        n = int(value)
    except ValueError:
        raise TunesmithError(f"--max-copy must be a number of notes, auto or off, not {value!r}") from None
    if not 1 <= n <= 10000:
        raise TunesmithError(f"--max-copy must be between 1 and 10000 notes, not {n}")
    return n


@dataclass(kw_only=True)
class SampleOptions:
    """What shapes the pieces. Defaults are `tunesmith sample`'s; `compose` starts from the card's."""

    n: int = setting(1, "number of pieces", low=1, high=10000, flag="-n")
    temperature: float = setting(1.0, "sampling temperature; 0 is greedy", low=0, high=10)
    top_k: int = setting(0, "sample among the k likeliest tokens; 0 is off", low=0)
    top_p: float = setting(1.0, "nucleus sampling mass; 1.0 is off", low=0, high=1, low_open=True)
    primer: str = setting("", r"text every piece starts with, e.g. 'M:6/8\nK:D\n' (\n is a newline)")
    max_length: int = setting(3000, "longest piece in tokens (characters for text models), primer included",
                              low=1, high=1_000_000)
    style: str | None = setting(None, "the style to compose in, for a model trained on several (default: the "
                                      "model picks)")
    key: str | None = setting(None, "ABC and **kern models: the key's tonic every piece is in (K:, e.g. D; "
                                    "'tunesmith models NAME' lists those the model knows); note-event models: "
                                    "write the pieces in this key (G, Bb major; e, f# minor)", group="controls")
    meter: str | None = setting(None, "ABC and **kern models: the meter every piece is in (M:, e.g. 6/8)",
                                group="controls")
    mode: str | None = setting(None, "ABC models: the mode every piece is in (e.g. dorian, minor)", group="controls")
    rhythm: str | None = setting(None, "ABC models: the tune type every piece is (R:, e.g. jig, reel)",
                                 group="controls")
    voice_leading: str | None = setting(None, "models in several voices: strict forbids parallel fifths and "
                                              "octaves between any two voices as they are sampled (harmonize too); "
                                              "free leaves them to the model (default: the model card's, else free)",
                                        choices=("strict", "free"), group="controls")
    bars: int | None = setting(None, "grid models: every piece is exactly N full bars (after any pickup), ended by "
                                     "the grammar (default: the model card's, else the model ends it)", low=1,
                               high=1000, metavar="N", group="controls")
    constrain: bool = setting(True, "sample under the model's grammar, which keeps every piece one that "
                                    "'tunesmith check' passes and forces --meter/--key/--mode/--rhythm; "
                                    "--no-constraint samples without it (raw, unconstrained figures)",
                              flag="--constraint", group="controls")
    seed: int | None = setting(None, "random seed (default: a new one each time)", low=0, high=2**31 - 1)
    valid_only: bool = setting(False, "re-sample pieces that fail 'tunesmith check' (up to --tries rounds)")
    max_copy: str = setting("auto", "copy guard: re-sample pieces that share more than N consecutive notes with "
                                    f"the training corpus; auto: N = {DEFAULT_MAX_COPY} where the model has the "
                                    "corpus index (see README); off switches it off", metavar="N",
                            check=max_copy_notes)
    tries: int = setting(5, "rounds of sampling for --valid-only and the copy guard", low=1, high=100)
    precision: str = setting("auto", "matrix products of each step: auto (bf16 on CPUs with bfloat16 arithmetic "
                                     "for 2 pieces or more, sampling 100 tunes about 1.9x faster; else fp32), fp32 "
                                     "or bf16 (default auto)", choices=("auto", "fp32", "bf16"))


Options = SampleOptions

# SampleOptions' fields a grammar forces (`Codec.controls`, and a grid model's voice leading)
CONTROLS = ("meter", "key", "mode", "rhythm", "voice_leading", "bars")


def asked_controls(codec, options: SampleOptions) -> dict[str, str]:
    """The header controls `options` ask of `codec`: {name: value} for meter, key, mode and rhythm given.
    The codec decides what --key is: for one that moves pieces to a key (`can_transpose`, note events)
    it is that, not a control."""
    names = [n for n in CONTROLS if not (n == "key" and codec.can_transpose)]
    return {n: str(getattr(options, n)) for n in names if getattr(options, n) is not None}


def check_controls(codec, options: SampleOptions) -> dict[str, str]:
    """The controls asked (see `asked_controls`), refused where the codec does not know them (the error
    lists the values it knows) or where there is no constraint to force them with."""
    asked = asked_controls(codec, options)
    if asked and not options.constrain:
        raise TunesmithError(f"--{next(iter(asked))} is forced by the model's grammar: it cannot be asked "
                             f"with --no-constraint")
    if asked:
        codec.check_controls(asked)
    if options.key is not None and "key" not in asked:
        codec.check_key(options.key)
    return asked

# what a card may set
TUNABLE = ("temperature", "top_k", "top_p", "primer", "max_length", "valid_only", "max_copy", "tries", "voice_leading",
           "bars")


def card_defaults(card: dict) -> SampleOptions:
    """The compose defaults a model's card records; fields it does not name keep `compose`'s own
    (valid-only and the copy guard on)."""
    base = SampleOptions(valid_only=True)
    saved = card.get(CARD_KEY) if isinstance(card, dict) else None
    if not isinstance(saved, dict):
        return base
    hints = typing.get_type_hints(SampleOptions)
    values = {}
    for name in TUNABLE:
        if name not in saved:
            continue
        value, expected = saved[name], hints[name]
        allowed = (int, float) if expected is float else expected
        if not isinstance(value, allowed) or (expected is not bool and isinstance(value, bool)):
            raise TunesmithError(f"the model card's {CARD_KEY}.{name} is {value!r}, which is not of the right type")
        values[name] = value
    return replace(base, **values)
