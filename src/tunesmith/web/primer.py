"""A score file as the start of a note-event model's pieces.

The file is read by music21 in a worker process (`tunesmith.worker`: the job
"read_part" registered here, e.g. `Worker(job="read_part")` or any worker's
`call("read_part", piece, parts, folder)`): a file that crashes or hangs the
reader is an error for that request, not a dead server.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith import TunesmithError
from tunesmith.notation.scores import PartEvents, ReaderSettings, parse_file, parse_key
from tunesmith.worker import register_job

PRIMER_EVENTS = 32     # notes and rests of the file that start each piece


def suffix_of(data: bytes) -> str:
    """The file name suffix music21 reads these bytes by: .mid, .mxl or .musicxml."""
    if data[:4] == b"MThd":
        return ".mid"
    if data[:4] == b"PK\x03\x04":
        return ".mxl"
    head = data[:4096].decode("utf-8", "ignore")
    if "<score-partwise" in head or "<score-timewise" in head:
        return ".musicxml"
    raise TunesmithError("the primer file is neither MIDI nor MusicXML")


def melody_suffix(data: bytes) -> str:
    """The file name suffix of a melody to harmonize: MIDI, MusicXML, or ABC or **kern text."""
    try:
        return suffix_of(data)
    except TunesmithError:
        pass
    head = data[:65536].decode("utf-8", "ignore")
    if "**kern" in head:
        return ".krn"
    if "K:" in head:
        return ".abc"
    raise TunesmithError("the melody file is neither MIDI, MusicXML, ABC nor **kern")


@register_job("read_melody")
def read_melody(piece, spec: str, out_dir: Path) -> dict:
    """Runs in the worker: the melody a grid model harmonizes, as a one-voice grid piece (JSON). `spec`
    is "GRID|PART": the model's step in quarters, and the part (0: the one named for the melody)."""
    from tunesmith.notation.grid_scores import melody_of

    grid, part = spec.split("|")
    return melody_of(piece.path, int(part) or None, grid).to_json()


@register_job("read_part")
def read_part(piece, parts: str, out_dir: Path) -> dict:
    """Runs in the worker: the score's chosen part (the codec's --parts) as note events (JSON)."""
    return parse_file(piece.path, ReaderSettings(parts))[0].to_json()


def words(codec, part_json: dict, events: int = PRIMER_EVENTS) -> str:
    """The event model's primer text for a part read by `read_part`: its header words and first events,
    moved to the key the model was trained in (where it was)."""
    part = PartEvents.from_json(part_json)
    if codec.transpose:
        part = part.in_key(parse_key(codec.transpose))
    found = codec.words_of(part)
    return " ".join(found[:3 + events])    # M: K: O: then the events
