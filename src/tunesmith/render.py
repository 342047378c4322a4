"""Pieces → files a person can open: MIDI, MusicXML, sheet music (SVG, one file per page), WAV.

Renderers are fragile: Verovio kills its whole process on some malformed ABC
(a segmentation fault), and music21 can spend minutes on garbage. So every
piece is rendered in a worker process (`tunesmith.worker`; this module registers
the jobs midi, musicxml and svg). A crash, a hang past the timeout or an
exception becomes an error for that piece and format, the worker is replaced,
and the rest goes on.

MIDI and MusicXML come from music21 for every input format (one reader, one
notion of what a piece is, the same one `check` and the event codecs use);
sheet music comes from Verovio, which reads Humdrum and MusicXML itself. ABC
and MIDI reach Verovio as MusicXML written by music21: Verovio's own ABC reader
aborts on ordinary tunes (a Nottingham jig with first/second endings), music21's
is lenient and is the reader behind the MIDI and MusicXML outputs anyway.
Audio is the MIDI played by FluidSynth with a General MIDI soundfont, in its
own process.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import math
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

from tunesmith import TunesmithError, atomic, formats, log
from tunesmith.notation import abc as abc_text
from tunesmith.notation import parse_path, parse_text
from tunesmith.worker import Worker, capture_stderr, register_job, using

OUTPUTS = ("midi", "musicxml", "svg", "wav", "kern")
SOUNDFONTS = ("/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2",
              "/usr/share/soundfonts/default.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2")
SUFFIX = {"midi": ".mid", "musicxml": ".musicxml", "kern": ".krn"}


@dataclass
class Piece:
    """One piece to render: a tune of a book, or a whole file."""

    name: str                 # file stem for its outputs
    kind: str                 # abc, kern, musicxml, midi
    text: str | None = None   # ABC, kern or MusicXML text
    path: str | None = None   # for binary inputs (MIDI, .mxl)


@dataclass
class Result:
    piece: str
    outputs: dict[str, list[Path]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def pieces_of(path: str | Path) -> list[Piece]:
    """A file → its pieces (an ABC book gives one per tune). Raises TunesmithError for unknown kinds."""
    path = Path(path)
    kind = formats.format_of(path)
    if kind is None:
        raise TunesmithError(f"{path}: cannot tell the format from '{path.suffix}' "
                             f"(known: {', '.join(sorted(formats.EXTENSIONS))})")
    if kind not in formats.SCORE_FORMATS:
        raise TunesmithError(f"{path}: a {kind} file is training data for the grid codec, not a score")
    if formats.is_binary(path):
        return [Piece(path.stem, kind, path=str(path))]
    text = abc_text.decode(path.read_bytes())
    if kind != "abc":
        return [Piece(path.stem, kind, text=text)]
    _, tunes = abc_text.split_book(text)
    if len(tunes) <= 1:
        return [Piece(path.stem, kind, text=text)]
    out: list[Piece] = []
    taken: set[str] = set()
    for lines in tunes:
        number = "".join(ch for ch in lines[0][2:].strip() if ch.isalnum()) or str(len(out) + 1)
        name = f"{path.stem}-{number}"
        while name in taken:  # books repeat X: numbers now and then; outputs must not overwrite
            name += "b"
        taken.add(name)
        out.append(Piece(name, kind, text="\n".join(lines).strip() + "\n"))
    return out


# ---- writing outputs ---------------------------------------------------------------------------

@contextlib.contextmanager
def written(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` to write to (hidden, same suffix); renamed to `path` when the
    block succeeds. On any failure the temporary is removed, and an OSError is raised as an
    atomic.WriteError naming `path`: "cannot write out/x.mid: No space left on device"."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise atomic.write_error(exc, path) from exc
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, atomic.FILE_MODE)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise atomic.write_error(exc, path) from exc
        raise


def remove_leftovers(out_dir: Path, name: str) -> None:
    """The temporaries of piece `name` that a worker killed while writing left behind."""
    stem = glob.escape(f".{name}")
    for pattern in (f"{stem}.*.tmp.*", f"{stem}-*.svg.*.tmp.svg"):
        for leftover in out_dir.glob(pattern):
            leftover.unlink(missing_ok=True)


# ---- jobs of the worker process -----------------------------------------------------------

def score_of(piece: Piece):
    """The piece as a music21 score (never from music21's pickle cache: see tunesmith.notation)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if piece.path is not None:
            return parse_path(piece.path)
        fmt = {"abc": "abc", "kern": "humdrum", "musicxml": "musicxml"}[piece.kind]
        return parse_text(piece.text, fmt)


_score = score_of   # the old private name, which tests/test_render.py still uses


def _verovio_lines(text: str) -> str:
    """Verovio's first message, to say why it could not read a piece (its raw lines stay hidden)."""
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    return f" ({'; '.join(lines[:2])[:200]})" if lines else ""


@register_job("svg")
def _svg(piece: Piece, fmt: str, out_dir: Path) -> list[str]:
    """Runs in the worker: sheet music, one SVG file per page."""
    # Verovio and music21 are imported where used: they cost seconds at start-up
    import verovio

    verovio.enableLog(verovio.LOG_OFF)   # its own log; humlib (the **kern reader) prints regardless
    tk = verovio.toolkit()
    if piece.text is not None and piece.kind in ("kern", "musicxml"):
        tk.setOptions({"inputFrom": "humdrum" if piece.kind == "kern" else "musicxml"})
        data = piece.text
    else:  # ABC, MIDI or compressed MusicXML: music21 writes MusicXML for Verovio
        from music21.musicxml.m21ToXml import GeneralObjectExporter

        tk.setOptions({"inputFrom": "musicxml"})
        data = GeneralObjectExporter(score_of(piece)).parse().decode("utf-8")
    with capture_stderr() as messages:
        pages = tk.getPageCount() if tk.loadData(data) else 0
    if pages < 1:
        raise ValueError(f"Verovio could not read it{_verovio_lines(messages.text)}")
    paths = [out_dir / (f"{piece.name}.svg" if pages == 1 else f"{piece.name}-{page}.svg")
             for page in range(1, pages + 1)]
    with contextlib.ExitStack() as stack:   # every page, or none
        for page, path in enumerate(paths, 1):
            stack.enter_context(written(path)).write_text(tk.renderToSVG(page), encoding="utf-8")
    return [str(p) for p in paths]


@register_job("midi")
@register_job("musicxml")
def _write(piece: Piece, fmt: str, out_dir: Path) -> list[str]:
    """Runs in the worker: the piece as a MIDI or MusicXML file, written by music21."""
    score = score_of(piece)
    if not score.recurse().notes:
        raise ValueError("no notes")
    path = out_dir / f"{piece.name}{SUFFIX[fmt]}"
    kind = "midi" if fmt == "midi" else "musicxml"
    with written(path) as tmp:
        try:
            score.write(kind, fp=str(tmp))
        except Exception as exc:
            if type(exc).__name__ != "ExpanderException":
                raise
            # MIDI plays repeats out; where music21 cannot expand them, the notes are played once
            _without_measures(score_of(piece)).write(kind, fp=str(tmp))
    return [str(path)]


@register_job("kern")
def _kern(piece: Piece, fmt: str, out_dir: Path) -> list[str]:
    """Runs in the worker: the piece as Humdrum **kern, one spine per part (notation/grid_kern.py)."""
    from tunesmith.notation.grid_kern import to_kern
    from tunesmith.notation.grid_scores import from_score

    path = out_dir / f"{piece.name}.krn"
    if piece.kind == "kern" and piece.text is not None:
        text = piece.text
    else:
        score = score_of(piece)
        if hasattr(score, "scores"):
            score = score.scores[0]
        step = _kern_step(score)
        text = to_kern(from_score(score, piece.name, str(step), True), piece.name)
    with written(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return [str(path)]


def _kern_step(score) -> Fraction:
    """The longest time step every note and rest of a score starts and ends on; refuses a score whose
    parts hold chords or several voices (a kern spine here is one line of notes)."""
    from music21 import chord, stream

    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    step = Fraction(0)
    for n, part in enumerate(parts, 1):
        if part.recurse().getElementsByClass(stream.Voice).first() is not None or \
                part.recurse().getElementsByClass(chord.Chord).first() is not None:
            raise ValueError(f"kern output writes one line of notes per part, and part {n} has chords or "
                             f"several voices")
        for el in part.flatten().notesAndRests:
            for x in (Fraction(el.offset).limit_denominator(48), Fraction(el.quarterLength).limit_denominator(48)):
                step = Fraction(math.gcd(step.numerator * x.denominator, x.numerator * step.denominator),
                                step.denominator * x.denominator) if step else x
    if step <= 0 or step < Fraction(1, 48):
        raise ValueError("the score's rhythm is finer than kern output writes (a 48th of a quarter)")
    return step


def _without_measures(score):
    """The score's notes, rests and tempo/meter/key marks at their offsets, with no measures or repeats."""
    # music21 is imported where used: it costs about a second at start-up
    from music21 import harmony, stream

    kinds = ["Note", "Chord", "Rest", "MetronomeMark", "TimeSignature", "KeySignature", "Instrument"]
    flat_score = stream.Score()
    for part in score.parts or [score]:
        flat = part.flatten()
        new = stream.Part()
        for el in flat.getElementsByClass(kinds):
            if not isinstance(el, harmony.ChordSymbol):
                new.insert(el.getOffsetBySite(flat), copy.deepcopy(el))
        flat_score.insert(0, new)
    return flat_score


def soundfont() -> str | None:
    """The General MIDI soundfont: $TUNESMITH_SOUNDFONT, else the Debian locations."""
    chosen = os.environ.get("TUNESMITH_SOUNDFONT")
    if chosen:
        return chosen if Path(chosen).is_file() else None
    return next((p for p in SOUNDFONTS if Path(p).is_file()), None)


def wav_missing() -> str | None:
    """Why WAV cannot be rendered here, or None when it can."""
    if shutil.which("fluidsynth") is None:
        return "WAV needs FluidSynth (Debian package fluidsynth), which is not installed"
    if soundfont() is None:
        return ("WAV needs a General MIDI soundfont (Debian package fluid-soundfont-gm, "
                "or set TUNESMITH_SOUNDFONT to an .sf2 file); none was found")
    return None


def midi_to_wav(midi: Path, wav: Path, timeout: float = 120.0, rate: int = 44100) -> None:
    """Synthesize a MIDI file with FluidSynth (its own process: a crash there is an error here)."""
    why = wav_missing()
    if why:
        raise TunesmithError(why)
    with written(wav) as tmp:
        try:
            run = subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.7", "-r", str(rate), "-F", str(tmp),
                                  soundfont(), str(midi)], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TunesmithError(f"FluidSynth did not finish within {timeout:g} s") from None
        if run.returncode != 0 or tmp.stat().st_size <= 44:
            detail = (run.stderr or run.stdout).strip().splitlines()
            raise TunesmithError(f"FluidSynth failed ({detail[-1] if detail else f'exit status {run.returncode}'})")


def parse_formats(spec: str, flag: str = "--to") -> list[str]:
    formats = [f.strip().lower() for f in spec.split(",") if f.strip()]
    unknown = [f for f in formats if f not in OUTPUTS]
    if unknown or not formats:
        raise TunesmithError(f"{flag} takes a comma-separated list of {', '.join(OUTPUTS)}, not {spec!r}")
    return formats


def render(files: list[str | Path], formats: list[str], out_dir: str | Path, timeout: float = 60.0,
           show_progress: bool = True, worker: Worker | None = None) -> list[Result]:
    """Render every piece of every file to every format; failures are per piece and format.
    `worker`: a running Worker to use (and leave running), else one is started for this call.
    Raises atomic.WriteError when `out_dir` cannot be made."""
    out_dir = atomic.ensure_folder(out_dir)
    formats = sorted(formats, key=lambda f: f == "wav")   # WAV plays the MIDI: that goes first
    results: list[Result] = []
    jobs: list[tuple[Result, Piece]] = []
    for f in files:
        try:
            for piece in pieces_of(f):
                result = Result(piece.name)
                results.append(result)
                jobs.append((result, piece))
        except (OSError, TunesmithError) as exc:
            results.append(Result(str(f), errors={"read": str(exc)}))
    no_wav = wav_missing() if "wav" in formats else None
    if no_wav:
        log.warn(f"{no_wav}; the other formats still render")
    bar = log.progress(len(jobs) * len(formats), "rendering", unit="file") if show_progress else None
    try:
        with using(worker, timeout) as worker, tempfile.TemporaryDirectory() as scratch:
            for result, piece in jobs:
                try:
                    _render_piece(worker, piece, result, formats, out_dir, Path(scratch), no_wav, timeout, bar)
                except BaseException:
                    # Ctrl-C: the worker may be halfway through a file; it is stopped, then its temporaries go
                    worker.kill()
                    remove_leftovers(out_dir, piece.name)
                    raise
    finally:
        if bar is not None:
            bar.close()
    return results


def _render_piece(worker: Worker, piece: Piece, result: Result, formats: list[str], out_dir: Path, scratch: Path,
                  no_wav: str | None, timeout: float, bar) -> None:
    """One piece to every format, in the worker (WAV here, from its MIDI)."""
    for fmt in formats:
        if fmt == "wav":
            _wav(worker, piece, result, out_dir, scratch, no_wav, timeout)
        else:
            ok, value = worker.run(piece, fmt, out_dir, timeout)
            if ok:
                result.outputs[fmt] = [Path(p) for p in value]
            else:
                result.errors[fmt] = value
                remove_leftovers(out_dir, piece.name)
        if bar is not None:
            bar.update(1)


def _wav(worker: Worker, piece: Piece, result: Result, out_dir: Path, scratch: Path, no_wav: str | None,
         timeout: float) -> None:
    """WAV from the piece's MIDI (the one just written, or one made in a scratch folder). Where the
    MIDI asked for has failed (a crash, a timeout), WAV fails at once: no second wait for it."""
    if no_wav:
        result.errors["wav"] = no_wav
        return
    if "midi" in result.errors:
        result.errors["wav"] = f"no MIDI to play (midi: {result.errors['midi']})"
        return
    midi = result.outputs.get("midi", [None])[0]
    if midi is None:
        ok, value = worker.run(piece, "midi", scratch, timeout)
        if not ok:
            result.errors["wav"] = f"no MIDI to play (midi: {value})"
            return
        midi = Path(value[0])
    wav = out_dir / f"{piece.name}.wav"
    try:
        midi_to_wav(midi, wav, timeout=max(timeout, 120.0))
        result.outputs["wav"] = [wav]
    except atomic.WriteError as exc:
        result.errors["wav"] = f"cannot write {exc.filename}: {exc.strerror}"
    except TunesmithError as exc:
        result.errors["wav"] = str(exc)
