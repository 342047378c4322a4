"""Likeness to the corpus: statistics of pieces as notes, and how far two sets of pieces lie apart.

After Yang & Lerch (2018), "On the evaluation of generative models in music",
and the metrics of MusPy (Dong et al. 2020). A piece is a list of notes
``(pitch, onset, duration)``: a MIDI pitch, onset and duration in quarter
lengths, sorted by onset; a chord is several notes with one onset. Everything
here is plain numpy, so it judges the pieces of any codec.

Per piece:

- histograms, each summing to 1 (all zeros when the piece has nothing to
  count): pitch classes, melodic intervals of the top line, note lengths and
  inter-onset intervals;
- figures: pitch range, pitch-class entropy, scale consistency, and two signs
  of a collapsed model, the share of the most frequent pitch and the longest
  run of one pitch.

Between two sets of pieces (`compare`): each histogram is averaged over the
pieces of a set and the two averages are compared by overlapping area and KL
divergence. Each figure's per-piece values are smoothed into a density with a
Gaussian kernel (Yang & Lerch's method, in numpy), and the two densities are
compared the same way. Pieces without notes are counted as ``empty`` and left
out of every average.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from tunesmith import TunesmithError

Note = tuple[int, float, float]
Piece = Sequence[Note]

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MAX_INTERVAL = 12

# Duration bins in quarter lengths, named as fractions of a quarter:
# 1/8 thirty-second, 1/6 sixteenth triplet, 1/4 sixteenth, 1/3 eighth triplet,
# 3/8 dotted sixteenth, 1/2 eighth, 2/3 quarter triplet, 3/4 dotted eighth,
# 1 quarter, 4/3 half triplet, 3/2 dotted quarter, 2 half, 3 dotted half,
# 4 whole, 6 dotted whole, 8 breve. A duration falls into the nearest bin on a
# log scale (the edges are the geometric means of neighbouring bins); anything
# shorter than 1/8 (grace notes included) or longer than 8 goes to the end bins.
DURATION_BINS: tuple[tuple[str, float], ...] = (
    ("1/8", 1 / 8), ("1/6", 1 / 6), ("1/4", 1 / 4), ("1/3", 1 / 3), ("3/8", 3 / 8), ("1/2", 1 / 2),
    ("2/3", 2 / 3), ("3/4", 3 / 4), ("1", 1.0), ("4/3", 4 / 3), ("3/2", 3 / 2), ("2", 2.0),
    ("3", 3.0), ("4", 4.0), ("6", 6.0), ("8", 8.0),
)
_DURATION_VALUES = np.array([value for _, value in DURATION_BINS])
_DURATION_EDGES = np.sqrt(_DURATION_VALUES[:-1] * _DURATION_VALUES[1:])

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
# One row per scale (12 major, then 12 natural minor), one column per pitch class.
_SCALES = np.array([[(pc - tonic) % 12 in steps for pc in range(12)]
                    for steps in (_MAJOR, _MINOR) for tonic in range(12)], dtype=float)

_ONSET_DECIMALS = 6     # onsets closer than this are one onset (float noise of triplets)
_DIGITS = 4             # rounding of every number handed out by `compare`


# ---------------------------------------------------------------- one piece

def _notes(notes: Piece | np.ndarray) -> np.ndarray:
    """The notes as an (n, 3) float array sorted by onset, then pitch."""
    array = np.asarray(notes, dtype=float)
    if array.size == 0:
        return np.zeros((0, 3))
    if array.ndim != 2 or array.shape[1] != 3:
        raise TunesmithError(f"a piece is a list of (pitch, onset, duration) notes, not an array of shape {array.shape}")
    return array[np.lexsort((array[:, 0], array[:, 1]))]


def _pitches(array: np.ndarray) -> np.ndarray:
    return np.rint(array[:, 0]).astype(int)


def _onset_ends(array: np.ndarray) -> np.ndarray:
    """A mask of the last (highest) note of each distinct onset."""
    onsets = np.round(array[:, 1], _ONSET_DECIMALS)
    return np.append(onsets[1:] != onsets[:-1], True) if onsets.size else np.zeros(0, dtype=bool)


def _top_line(array: np.ndarray) -> np.ndarray:
    """The highest pitch at each distinct onset, in time order."""
    return _pitches(array)[_onset_ends(array)]


def _normalised(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros(counts.shape)


def _duration_histogram(durations: np.ndarray) -> np.ndarray:
    bins = np.searchsorted(_DURATION_EDGES, durations)
    return _normalised(np.bincount(bins, minlength=len(DURATION_BINS)).astype(float))


def pitch_class_histogram(notes: Piece) -> np.ndarray:
    """Share of notes on each pitch class C..B (12 values; every note counts once, whatever its length)."""
    pitches = _pitches(_notes(notes))
    return _normalised(np.bincount(pitches % 12, minlength=12).astype(float))


def pitch_range(notes: Piece) -> int:
    """Highest minus lowest pitch in semitones; 0 for a piece without notes."""
    pitches = _pitches(_notes(notes))
    return int(pitches.max() - pitches.min()) if pitches.size else 0


def interval_histogram(notes: Piece) -> np.ndarray:
    """Share of each melodic interval between the top notes of consecutive onsets.

    25 bins for -12..+12 semitones; larger leaps count in the end bins.
    All zeros when the piece has fewer than two onsets.
    """
    intervals = np.clip(np.diff(_top_line(_notes(notes))), -MAX_INTERVAL, MAX_INTERVAL)
    return _normalised(np.bincount(intervals + MAX_INTERVAL, minlength=2 * MAX_INTERVAL + 1).astype(float))


def note_length_histogram(notes: Piece) -> np.ndarray:
    """Share of notes in each bin of `DURATION_BINS` (every note counts once)."""
    return _duration_histogram(_notes(notes)[:, 2])


def ioi_histogram(notes: Piece) -> np.ndarray:
    """Share of inter-onset intervals (between distinct consecutive onsets) in each bin of `DURATION_BINS`."""
    array = _notes(notes)
    return _duration_histogram(np.diff(array[_onset_ends(array), 1]))


def pitch_class_entropy(notes: Piece) -> float:
    """Shannon entropy of the pitch-class histogram in bits: 0 for one pitch class, log2(12) for all equally."""
    shares = pitch_class_histogram(notes)
    shares = shares[shares > 0]
    return float(max(0.0, -(shares * np.log2(shares)).sum()))


def scale_consistency(notes: Piece) -> float:
    """The largest share of notes that belong to one of the 24 major or natural-minor scales (MusPy); 0 without notes."""
    pitches = _pitches(_notes(notes))
    if pitches.size == 0:
        return 0.0
    counts = np.bincount(pitches % 12, minlength=12)
    return float((_SCALES @ counts).max() / pitches.size)


def top_pitch_share(notes: Piece) -> float:
    """Share of the notes on the most frequent pitch (1.0 when a model repeats one note); 0 without notes."""
    pitches = _pitches(_notes(notes))
    if pitches.size == 0:
        return 0.0
    return float(np.unique(pitches, return_counts=True)[1].max() / pitches.size)


def longest_repeat(notes: Piece) -> int:
    """The longest run of consecutive onsets whose top note has the same pitch; 0 without notes.

    For a melody this is the longest run of repeated notes; in chords only the
    top note counts, since the order of notes inside a chord means nothing.
    """
    line = _top_line(_notes(notes))
    if line.size == 0:
        return 0
    bounds = np.concatenate(([-1], np.flatnonzero(np.diff(line) != 0), [line.size - 1]))
    return int(np.diff(bounds).max())


# ---------------------------------------------------------------- distances

def _distribution(p: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(p, dtype=float)
    if array.ndim != 1 or (array < 0).any():
        raise ValueError("a distribution is a one-dimensional array of non-negative numbers")
    return array


def _pair(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, q = _distribution(p), _distribution(q)
    if p.shape != q.shape:
        raise ValueError(f"distributions of different lengths ({p.size} and {q.size}) cannot be compared")
    return p, q


def overlap_area(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray) -> float:
    """Shared area of two distributions over the same bins, each normalised to sum 1.

    1 for identical distributions, 0 for disjoint ones (and when either is all zeros).
    """
    p, q = _pair(p, q)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    return float(min(1.0, np.minimum(p / p.sum(), q / q.sum()).sum()))


def kl_divergence(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray, eps: float = 1e-6) -> float:
    """KL(p || q) in bits, after adding `eps` to every bin of both and normalising.

    The smoothing keeps an empty bin of q finite; 0 for identical distributions.
    """
    if eps <= 0:
        raise ValueError("eps must be positive")
    p, q = _pair(p, q)
    p = (p + eps) / (p + eps).sum()
    q = (q + eps) / (q + eps).sum()
    return float(max(0.0, (p * np.log2(p / q)).sum()))


def _kde(values: np.ndarray, bandwidth: float, grid: np.ndarray) -> np.ndarray:
    """A Gaussian kernel density of `values` on `grid` (unnormalised), in chunks to bound memory."""
    density = np.zeros(grid.size)
    for start in range(0, values.size, 4096):
        chunk = values[start:start + 4096, None]
        density += np.exp(-0.5 * ((grid[None, :] - chunk) / bandwidth) ** 2).sum(axis=0)
    return density


def density_distance(a: Sequence[float], b: Sequence[float], points: int = 512) -> tuple[float, float]:
    """(overlapping area, KL(a || b) in bits) of the kernel densities of two samples of a figure.

    Each sample is smoothed with a Gaussian kernel of Silverman's bandwidth
    (1.06 std n^-1/5), at least a tenth of the pooled standard deviation so a
    sample of identical values still has a width; both densities are evaluated
    on one grid spanning both samples and compared as distributions over its
    points. Two samples of one identical value give (1.0, 0.0).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("both samples need at least one value")
    pooled = np.concatenate([a, b])
    spread = float(pooled.std())
    if spread == 0:
        return 1.0, 0.0

    def bandwidth(values: np.ndarray) -> float:
        std = float(values.std(ddof=1)) if values.size > 1 else 0.0
        return max(1.06 * std * values.size ** -0.2, 0.1 * spread)

    bandwidth_a, bandwidth_b = bandwidth(a), bandwidth(b)
    pad = 4 * max(bandwidth_a, bandwidth_b)
    grid = np.linspace(pooled.min() - pad, pooled.max() + pad, points)
    density_a, density_b = _kde(a, bandwidth_a, grid), _kde(b, bandwidth_b, grid)
    return overlap_area(density_a, density_b), kl_divergence(density_a, density_b)


# ---------------------------------------------------------------- sets of pieces

# name -> (label, function, bin labels)
HISTOGRAMS: dict[str, tuple[str, Callable[[Piece], np.ndarray], list]] = {
    "pitch_class": ("Pitch classes", pitch_class_histogram, list(PITCH_CLASSES)),
    "interval": ("Melodic intervals of the top line (semitones)", interval_histogram,
                 [f"{step:+d}" if step else "0" for step in range(-MAX_INTERVAL, MAX_INTERVAL + 1)]),
    "note_length": ("Note lengths (quarters)", note_length_histogram, [name for name, _ in DURATION_BINS]),
    "ioi": ("Inter-onset intervals (quarters)", ioi_histogram, [name for name, _ in DURATION_BINS]),
}

# name -> (label, function)
SCALARS: dict[str, tuple[str, Callable[[Piece], float]]] = {
    "pitch_range": ("Pitch range (semitones)", pitch_range),
    "pitch_class_entropy": ("Pitch-class entropy (bits)", pitch_class_entropy),
    "scale_consistency": ("Scale consistency", scale_consistency),
    "top_pitch_share": ("Top pitch share", top_pitch_share),
    "longest_repeat": ("Longest repeat (notes)", longest_repeat),
}


def _round(value: float | None, digits: int = _DIGITS) -> float | None:
    return None if value is None else round(float(value), digits)


def _rounded(values: Iterable[float]) -> list[float]:
    return [round(float(value), _DIGITS) for value in values]


def _collapse(top_shares: list[float], repeats: list[int]) -> dict:
    if not top_shares:
        return {"mean_top_pitch_share": None, "max_longest_repeat": None, "share_top_pitch_over_half": None}
    shares = np.array(top_shares)
    return {"mean_top_pitch_share": _round(shares.mean()),
            "max_longest_repeat": int(max(repeats)),
            "share_top_pitch_over_half": _round((shares > 0.5).mean())}


def corpus_profile(pieces: Iterable[Piece]) -> dict:
    """The statistics of a set of pieces, as plain JSON-ready data.

    ``{"pieces", "empty", "histograms": {name: {"label", "bins", "value", "counted"}},
    "scalars": {name: {"label", "mean", "std", "values"}}, "collapse": {...}}``.
    A histogram's value is the average of the pieces' histograms, over the
    pieces that have something to count (``counted``; a one-note piece has no
    interval). A scalar keeps every non-empty piece's value for `compare`.
    """
    total = empty = 0
    histograms: dict[str, list[np.ndarray]] = {name: [] for name in HISTOGRAMS}
    scalars: dict[str, list[float]] = {name: [] for name in SCALARS}
    for piece in pieces:
        total += 1
        array = _notes(piece)
        if len(array) == 0:
            empty += 1
            continue
        for name, (_, function, _) in HISTOGRAMS.items():
            histogram = function(array)
            if histogram.sum() > 0:
                histograms[name].append(histogram)
        for name, (_, function) in SCALARS.items():
            scalars[name].append(float(function(array)))

    profile: dict = {"pieces": total, "empty": empty, "histograms": {}, "scalars": {}}
    for name, (label, _, bins) in HISTOGRAMS.items():
        rows = histograms[name]
        value = np.mean(rows, axis=0) if rows else np.zeros(len(bins))
        profile["histograms"][name] = {"label": label, "bins": bins, "value": _rounded(value), "counted": len(rows)}
    for name, (label, _) in SCALARS.items():
        values = np.array(scalars[name])
        profile["scalars"][name] = {
            "label": label,
            "mean": _round(values.mean()) if values.size else None,
            "std": _round(values.std()) if values.size else None,
            "values": _rounded(values),
        }
    profile["collapse"] = _collapse(scalars["top_pitch_share"], [int(v) for v in scalars["longest_repeat"]])
    return profile


def compare_profiles(generated: dict, corpus: dict) -> dict:
    """Compare two profiles from `corpus_profile` (profile a big corpus once, compare many samples to it).

    Histograms: ``generated`` and ``corpus`` are the averaged histograms,
    ``overlap`` their overlapping area and ``kl`` KL(generated || corpus) in bits.
    Scalars: mean, std and per-piece values on each side, and ``overlap`` and
    ``kl`` between their kernel densities (see `density_distance`). A distance
    is None where either side has nothing to measure.
    """
    result: dict = {
        "generated": {"pieces": generated["pieces"], "empty": generated["empty"]},
        "corpus": {"pieces": corpus["pieces"], "empty": corpus["empty"]},
        "histograms": {},
        "scalars": {},
        "collapse": {"generated": generated["collapse"], "corpus": corpus["collapse"]},
    }
    for name, ours in generated["histograms"].items():
        theirs = corpus["histograms"][name]
        measurable = ours["counted"] > 0 and theirs["counted"] > 0
        result["histograms"][name] = {
            "label": ours["label"], "bins": ours["bins"],
            "generated": ours["value"], "corpus": theirs["value"],
            "overlap": _round(overlap_area(ours["value"], theirs["value"])) if measurable else None,
            "kl": _round(kl_divergence(ours["value"], theirs["value"])) if measurable else None,
        }
    for name, ours in generated["scalars"].items():
        theirs = corpus["scalars"][name]
        overlap = kl = None
        if ours["values"] and theirs["values"]:
            overlap, kl = density_distance(ours["values"], theirs["values"])
        result["scalars"][name] = {
            "label": ours["label"],
            "generated": {key: ours[key] for key in ("mean", "std", "values")},
            "corpus": {key: theirs[key] for key in ("mean", "std", "values")},
            "overlap": _round(overlap), "kl": _round(kl),
        }
    return result


def compare(generated_pieces: Iterable[Piece], corpus_pieces: Iterable[Piece]) -> dict:
    """How much the generated pieces resemble the corpus, metric by metric (see `compare_profiles`)."""
    return compare_profiles(corpus_profile(generated_pieces), corpus_profile(corpus_pieces))
