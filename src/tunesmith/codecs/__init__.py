"""Codecs: the one place where a piece becomes token ids and back.

One base class (`base.py`: the hooks a codec provides), one file per
representation, registered by name with `@register_codec`; config as data
(JSON saved with every model). The model, trainer and sampler see only
integers. To add a representation, write `codecs/NAME.py` and import it here.
Decoding constraints (`codecs/constraint.py`, which needs torch) are imported
from there, so reading a corpus needs no torch.
"""

from __future__ import annotations

from tunesmith.codecs.base import (CODECS, Codec, CodecOptions, Piece, choose, codec_from_json, codec_names,
                                   register_codec)
from tunesmith.codecs.chars import CharCodec
from tunesmith.codecs.events import EventCodec
from tunesmith.codecs.grid import GridCodec

__all__ = ["Codec", "CodecOptions", "CharCodec", "EventCodec", "GridCodec", "CODECS", "Piece",
           "choose", "codec_from_json", "codec_names", "register_codec"]
