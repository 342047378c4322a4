"""Voice-leading figures of pieces in several voices, against a corpus's own rates (`judge --voices`).

Each piece is read onto a time grid with one voice per part (notation/grid_scores.py). Per piece:

    full       the share of steps with every voice sounding
    range      notes outside the usual range of their voice (four voices: S C4–G5, A F3–D5,
               T C3–G4, B E2–C4), as a share of the notes
    crossings  steps where a voice sounds below the voice under it, per 100 steps
    parallels  parallel fifths and octaves between any two voices, per 100 voice-leading steps
               (a step where some voice starts a note), found by music21's VoiceLeadingQuartet
    texture    the longest run of steps, every voice, in any transposition, shared with one corpus
               piece; more than COPY_BARS bars is a copy of the whole texture

The rates of the samples are given beside the corpus's, read the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from tunesmith.evaluate.texture import COPY_BARS, window_key
from tunesmith.notation.grid import REST, GridPiece, is_onset, pitch_of

RANGES = {4: [(60, 79), (53, 74), (48, 67), (40, 60)]}    # S C4–G5, A F3–D5, T C3–G4, B E2–C4


@dataclass
class VoiceFigures:
    steps: int = 0
    full_steps: int = 0
    notes: int = 0
    out_of_range: int = 0
    crossings: int = 0
    moves: int = 0               # voice-leading steps: some voice starts a note
    fifths: int = 0
    octaves: int = 0

    def add(self, other: "VoiceFigures") -> "VoiceFigures":
        return VoiceFigures(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values())))

    def rates(self) -> dict:
        def per(count: int, whole: int, scale: float = 1.0) -> float | None:
            return round(scale * count / whole, 4) if whole else None
        return {"full_share": per(self.full_steps, self.steps), "out_of_range_share": per(self.out_of_range, self.notes),
                "crossings_per_100_steps": per(self.crossings, self.steps, 100),
                "parallels_per_100_moves": per(self.fifths + self.octaves, self.moves, 100),
                "fifths": self.fifths, "octaves": self.octaves, "moves": self.moves, "steps": self.steps}


def figures(piece: GridPiece) -> VoiceFigures:
    """The voice-leading counts of one piece with voices (`piece.voices`)."""
    from music21 import note, voiceLeading

    count = len(piece.voices or [])
    out = VoiceFigures()
    if count < 2:
        return out
    ranges = RANGES.get(count)
    previous: list[int] | None = None
    for step in piece.steps:
        sounding = [e for e in step if e != REST]
        out.steps += 1
        out.full_steps += len(sounding) == count
        for v, e in enumerate(step):
            if is_onset(e):
                out.notes += 1
                if ranges and not ranges[v][0] <= e <= ranges[v][1]:
                    out.out_of_range += 1
        out.crossings += any(step[v] != REST and step[v + 1] != REST and pitch_of(step[v]) < pitch_of(step[v + 1])
                             for v in range(count - 1))
        if previous is not None and any(is_onset(e) for e in step):
            out.moves += 1
            for a in range(count):
                for b in range(a + 1, count):
                    pair = (previous[a], step[a], previous[b], step[b])
                    if REST in pair:
                        continue
                    p1, p2, q1, q2 = (pitch_of(e) for e in pair)
                    if p1 == p2 and q1 == q2:
                        continue
                    quartet = voiceLeading.VoiceLeadingQuartet(note.Note(midi=p1), note.Note(midi=p2),
                                                               note.Note(midi=q1), note.Note(midi=q2))
                    out.fifths += bool(quartet.parallelFifth())
                    out.octaves += bool(quartet.parallelOctave())
        previous = list(step)
    return out


class TextureIndex:
    """Every run of consecutive steps (all voices, any transposition) of a corpus, to find the longest
    run a piece shares with one of them: the copy guard on the whole texture."""

    def __init__(self, pieces: list[GridPiece]):
        self.lines = [[tuple(s) for s in p.steps] for p in pieces]
        self._sets: dict[int, set] = {}

    def _runs(self, k: int) -> set:
        if k not in self._sets:
            self._sets[k] = {hash(w) for line in self.lines for i in range(len(line) - k + 1)
                             if (w := window_key(line, i, k)) is not None}
        return self._sets[k]

    def longest(self, piece: GridPiece, most: int = 256) -> int:
        """The longest run of steps (at most `most`) the piece shares with a corpus piece."""
        steps = [tuple(s) for s in piece.steps]

        def shares(k: int) -> bool:
            runs = self._runs(k)
            return any((w := window_key(steps, i, k)) is not None and hash(w) in runs
                       for i in range(len(steps) - k + 1))
        low, high = 0, min(most, len(steps))
        while low < high:              # shares(k) holds for every k up to the longest
            mid = (low + high + 1) // 2
            if shares(mid):
                low = mid
            else:
                high = mid - 1
        return low


def read_voiced(paths: list[str | Path], grid: str = "1/2", show_progress: bool = True
                ) -> tuple[list[tuple[str, GridPiece]], list[tuple[str, str]]]:
    """Pieces with one voice per part, on a grid of `grid` quarter (default an eighth)."""
    from tunesmith.notation.grid_scores import read_scores

    read, skipped = read_scores([Path(p) for p in paths], grid, True, show_progress)
    return [(p.name, p) for pieces in read.values() for p in pieces], skipped


def compare(samples: list[str | Path], corpus_files: list[str | Path], show_progress: bool = True) -> dict:
    """Each sample's rates and the samples' and corpus's in all, side by side."""
    pieces, _ = read_voiced(samples, show_progress=False)
    reference, skipped = read_voiced(corpus_files, show_progress=show_progress)
    rows = []
    total = VoiceFigures()
    voices = {len(p.voices or []) for _, p in pieces} or {4}
    texture = TextureIndex([p for _, p in reference if len(p.voices or []) in voices])
    bar = 8     # steps of an eighth in a 4/4 bar: a copy is more than COPY_BARS bars of every voice
    for name, piece in pieces:
        counts = figures(piece)
        total = total.add(counts)
        shared = texture.longest(piece)
        rows.append({"piece": Path(name).stem, "voices": len(piece.voices or []), **counts.rates(),
                     "longest_shared_steps": shared, "texture_copy": shared > COPY_BARS * bar})
    corpus_total = VoiceFigures()
    for _, piece in reference:
        if len(piece.voices or []) in voices:
            corpus_total = corpus_total.add(figures(piece))
    return {"pieces": rows, "samples": total.rates(), "corpus": corpus_total.rates(),
            "texture_copies": sum(r["texture_copy"] for r in rows), "copy_steps": COPY_BARS * bar,
            "corpus_pieces": sum(len(p.voices or []) in voices for _, p in reference), "corpus_skipped": len(skipped)}


__all__ = ["VoiceFigures", "TextureIndex", "figures", "compare", "read_voiced", "RANGES"]
