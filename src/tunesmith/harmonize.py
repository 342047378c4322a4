"""Harmonizing a melody: a grid model with voices (e.g. the four-part `chorale`) writes the lower
voices under a melody it is given, note for note (`tunesmith harmonize`, the web app's Harmonize).

The melody (one part of an ABC, MusicXML, MIDI or **kern file) is put on the model's grid; the
model's grammar is then given the melody (`GridCodec.harmony_request`), so at every step the top
voice's slot can only be the melody's note, bars and fermatas come where the melody has them, and
the piece ends where it does. The lower voices are sampled. The result is written as MusicXML, one
part per voice, in the melody's key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunesmith import TunesmithError, sample
from tunesmith.notation import grid as g, grid_scores


@dataclass
class Harmonized:
    melody: g.GridPiece
    pieces: list[sample.Sampled]
    kept: list[bool]            # each piece's top voice is the melody, step for step
    seed: int


def read_melody(codec, path: str | Path, part: int | None = None) -> g.GridPiece:
    if getattr(codec, "kind", "") != "grid":
        raise TunesmithError("harmonizing needs a model of voices on a time grid (such as 'chorale'); this one "
                             f"writes {codec.label(codec.format)}")
    if not Path(path).is_file():
        raise TunesmithError(f"no such file: {path}")
    return grid_scores.melody_of(path, part, codec.grid)


def harmonize(loaded, melody: g.GridPiece, n: int = 1, temperature: float = 1.0, seed: int | None = None,
              device: str = "cpu", top_k: int = 0, top_p: float = 1.0, voice_leading: str | None = None
              ) -> Harmonized:
    """`n` harmonizations of `melody` by the model `loaded` (a bundle); `voice_leading` strict forbids
    parallel fifths and octaves (default: the model card's, else free)."""
    from tunesmith.options import card_defaults

    codec = loaded.codec
    primer, controls, length = codec.harmony_request(melody)
    rule = voice_leading or card_defaults(loaded.card).voice_leading
    if rule is not None:
        codec.check_controls({"voice_leading": rule})
        controls["voice_leading"] = rule
    seed = seed if seed is not None else sample.new_seed()
    pieces = sample.generate(loaded.model, codec, n=n, temperature=temperature, top_k=top_k, top_p=top_p,
                             primer=primer, controls=controls, max_length=length + 8, seed=seed, device=device)
    top = [s[0] for s in _steps(codec, melody)]
    kept = [[s[0] if s else g.REST for s in codec.piece_of(p.text).steps] == top for p in pieces]
    return Harmonized(melody, pieces, kept, seed)


def _steps(codec, melody: g.GridPiece) -> list[list[int]]:
    """The melody's steps as the model writes its top voice (a plain roll has no held notes)."""
    if codec.onsets:
        return melody.steps
    return [[g.pitch_of(e) if e != g.REST else e for e in s] for s in melody.steps]


def finisher(codec, melody: g.GridPiece):
    """How a harmonization becomes its file: MusicXML in the melody's key and metre."""
    def finish(piece: sample.Sampled, number: int) -> str:
        from tunesmith.notation import grid_xml

        written = codec.piece_of(piece.text)
        written.key = written.key or melody.key
        title = f"{Path(melody.name).stem} harmonized {number}"
        if grid_xml.writes(written):
            return grid_xml.to_musicxml(written, title)
        from music21.musicxml.m21ToXml import GeneralObjectExporter
        return GeneralObjectExporter(g.to_score(written, title)).parse().decode("utf-8")
    return finish


__all__ = ["Harmonized", "harmonize", "read_melody", "finisher"]
