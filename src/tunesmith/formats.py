"""The one map from a file's extension to its music format, for every reader and the renderer.

Formats: abc and kern (text), musicxml (text, or compressed .mxl), midi
(binary) and roll (piano-roll JSON, read by the grid codec when named; a folder never
yields one). `format_of` is how tunesmith tells a file's format everywhere.
"""

from __future__ import annotations

from pathlib import Path

EXTENSIONS = {".abc": "abc", ".krn": "kern", ".kern": "kern", ".mid": "midi", ".midi": "midi",
              ".xml": "musicxml", ".mxl": "musicxml", ".musicxml": "musicxml", ".json": "roll"}
FORMATS = ("abc", "kern", "midi", "musicxml", "roll")   # every format a file may be in
ROLL_FORMATS = ("roll",)                          # piano-roll JSON (the grid codec; never found in folders)
TEXT_FORMATS = ("abc", "kern")                    # read as text by the character codec
SCORE_FORMATS = ("abc", "kern", "midi", "musicxml")   # read as scores (note events) through music21
BINARY_EXTENSIONS = frozenset({".mid", ".midi", ".mxl"})   # files that are not text


def format_of(path: str | Path) -> str | None:
    """The format of a file by its extension (any case), or None for a file that is not music."""
    return EXTENSIONS.get(Path(path).suffix.lower())


def is_binary(path: str | Path) -> bool:
    """Whether the file is bytes, not text (MIDI, compressed MusicXML): readers need its path."""
    return Path(path).suffix.lower() in BINARY_EXTENSIONS
