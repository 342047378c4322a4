"""Continuing a person's own tune, ABC or **kern: `tunesmith continue FILE` and the web app's
"continue my tune".

The tune is brought into the model's training shape as a primer (ABC: its
header normalised the way reading normalises a corpus tune, with the model's
kept fields, and no final newline the person did not write; **kern: its body,
as reading strips it), the model continues it under its constraint, and each
file written is the person's text, unchanged, followed by what the model wrote
(the ids after the primer, decoded; for **kern, its measure markers restored
as barlines). `prepare` refuses, in one sentence, a tune the model cannot
continue: another format, characters the model never saw, or (under the
constraint) a symbol its grammar cannot follow. `learnt` gives the model a copy of itself that has
read the tune a few times over, learning from it (`continue --adapt`, adapt.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from tunesmith import TunesmithError
from tunesmith.codecs import Codec, tunes
from tunesmith.sample import Finish, Sampled

if TYPE_CHECKING:
    from tunesmith.bundle import Bundle


class GrammarRefused(TunesmithError):
    """The model's grammar cannot follow the tune (sampling without it can still continue it)."""


@dataclass
class Tune:
    """A person's tune, ready to be continued."""

    text: str       # what every file starts with: their text (trailing blank lines aside)
    primer: str     # the same tune in the model's training shape
    unit: str | None = None   # ABC: the unit note length the continuation is written back in (None: the model's)

    def finisher(self, codec: Codec) -> Finish:
        """How a sampled continuation becomes its file: the person's text, then what the model wrote."""
        def finish(piece: Sampled, number: int) -> str:
            return self.text + self.written(codec, piece)
        return finish

    def written(self, codec: Codec, piece: Sampled) -> str:
        """What the model wrote after the primer, in the file's own notation."""
        return tunes.written(codec, self.primer, codec.decode(piece.ids[piece.primed:]), self.unit)


def prepare(codec: Codec, text: str, name: str = "the tune", constrain: bool = True) -> Tune:
    """`text` (the contents of an ABC or **kern file) as a Tune for `codec`'s model; an error in one
    sentence, naming `name`, for one it cannot continue."""
    text = text.replace("\r\n", "\n")
    if not text.strip():
        raise TunesmithError(f"{name} is empty: there is no tune to continue")
    tune = Tune(*tunes.tune_primer(codec, text, name))
    try:
        ids = codec.encode_primer(tune.primer)
    except TunesmithError as exc:
        raise TunesmithError(str(exc).replace("the primer", name, 1)) from None
    rule = codec.constraint() if constrain else None
    if rule is not None:
        try:
            rule.start(1, ids.tolist())
        except TunesmithError as exc:
            raise GrammarRefused(f"the model's grammar cannot follow {name}: {exc}") from None
    return tune


def learnt(loaded: "Bundle", tune: Tune, device, lr: float | None = None, passes: int | None = None) -> "Bundle":
    """`loaded` with a copy of its model that has read `tune` `passes` times, learning at `lr`
    (`adapt.adapted_to`; None: its defaults): the continuation then follows the tune's own habits
    more closely. `loaded`'s model is left as it was."""
    import torch

    from tunesmith.adapt import adapted_to

    ids = loaded.codec.encode_primer(tune.primer)
    return replace(loaded, model=adapted_to(loaded.model, ids, torch.device(device), lr, passes=passes))
