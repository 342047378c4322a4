"""Codecs: the one place where a piece becomes token ids and back.

One base class, one subclass per representation, config as data (JSON saved
with every model). The model, trainer and sampler see only integers.
"""

from __future__ import annotations

from tunesmith import TunesmithError
from tunesmith.codecs.base import Codec
from tunesmith.codecs.chars import CharCodec
from tunesmith.codecs.events import EventCodec

CODECS: dict[str, type[Codec]] = {CharCodec.kind: CharCodec, EventCodec.kind: EventCodec}


def codec_from_json(data: dict) -> Codec:
    kind = data.get("kind")
    if kind not in CODECS:
        raise TunesmithError(f"unknown codec kind '{kind}' (known: {', '.join(CODECS)})")
    return CODECS[kind].from_json(data)


__all__ = ["Codec", "CharCodec", "EventCodec", "CODECS", "codec_from_json"]
