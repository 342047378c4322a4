"""Pieces → files a person can open: MIDI, MusicXML, sheet music (SVG, one file per page), WAV.

Renderers are fragile: Verovio kills its whole process on some malformed ABC
(a segmentation fault), and music21 can spend minutes on garbage. So every
piece is rendered in a worker process. A crash, a hang past the timeout or an
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
import io
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith import TunesmithError, log
from tunesmith.corpus import abc as abc_text

OUTPUTS = ("midi", "musicxml", "svg", "wav")
SOUNDFONTS = ("/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2",
              "/usr/share/soundfonts/default.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2")
INPUTS = {".abc": "abc", ".krn": "kern", ".kern": "kern", ".xml": "musicxml", ".musicxml": "musicxml",
          ".mxl": "musicxml", ".mid": "midi", ".midi": "midi"}
SUFFIX = {"midi": ".mid", "musicxml": ".musicxml"}


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
    kind = INPUTS.get(path.suffix.lower())
    if kind is None:
        raise TunesmithError(f"{path}: cannot tell the format from '{path.suffix}' "
                             f"(known: {', '.join(sorted(INPUTS))})")
    if kind in ("midi",) or path.suffix.lower() == ".mxl":
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


# ---- inside the worker process -----------------------------------------------------------

def _score(piece: Piece):
    import warnings

    from music21 import converter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if piece.path is not None:
            return converter.parse(piece.path)
        fmt = {"abc": "abc", "kern": "humdrum", "musicxml": "musicxml"}[piece.kind]
        return converter.parse(piece.text, format=fmt)


def _svg(piece: Piece, out_dir: Path) -> list[Path]:
    import verovio

    verovio.enableLog(verovio.LOG_OFF)
    tk = verovio.toolkit()
    if piece.text is not None and piece.kind in ("kern", "musicxml"):
        tk.setOptions({"inputFrom": "humdrum" if piece.kind == "kern" else "musicxml"})
        data = piece.text
    else:  # ABC, MIDI or compressed MusicXML: music21 writes MusicXML for Verovio
        from music21.musicxml.m21ToXml import GeneralObjectExporter

        tk.setOptions({"inputFrom": "musicxml"})
        data = GeneralObjectExporter(_score(piece)).parse().decode("utf-8")
    if not tk.loadData(data) or tk.getPageCount() < 1:
        raise ValueError("Verovio could not read it")
    paths = []
    pages = tk.getPageCount()
    for page in range(1, pages + 1):
        path = out_dir / (f"{piece.name}.svg" if pages == 1 else f"{piece.name}-{page}.svg")
        path.write_text(tk.renderToSVG(page), encoding="utf-8")
        paths.append(path)
    return paths


def _render_one(piece: Piece, fmt: str, out_dir: Path):
    """Runs in the worker: write one format of one piece ("check" measures it instead, see check.py)."""
    if fmt == "check":
        from tunesmith.check import _check_job

        return _check_job(piece, fmt, out_dir)
    if fmt == "svg":
        return [str(p) for p in _svg(piece, out_dir)]
    score = _score(piece)
    if not score.recurse().notes:
        raise ValueError("no notes")
    path = out_dir / f"{piece.name}{SUFFIX[fmt]}"
    try:
        score.write("midi" if fmt == "midi" else "musicxml", fp=str(path))
    except Exception as exc:
        if type(exc).__name__ != "ExpanderException":
            raise
        # MIDI plays repeats out; where music21 cannot expand them, the notes are played once
        _without_measures(_score(piece)).write("midi" if fmt == "midi" else "musicxml", fp=str(path))
    return [str(path)]


def _without_measures(score):
    """The score's notes, rests and tempo/meter/key marks at their offsets, with no measures or repeats."""
    import copy

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


# ---- the worker loop ---------------------------------------------------------------------

def _serve(conn, job) -> None:
    """The worker's loop: one job in, one answer out, until told to stop."""
    while True:
        request = conn.recv()
        if request is None:
            return
        piece, fmt, out_dir = request
        try:
            # music21 prints its warnings about a piece ("abcFormat: WARNING ...") to stderr: a
            # piece's problems are the answer's business, not the terminal's
            with contextlib.redirect_stderr(io.StringIO()):
                answer = job(piece, fmt, Path(out_dir))
            conn.send(("ok", answer))
        except Exception as exc:  # any renderer failure is this piece's error, not the worker's
            last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
            where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last else ""
            conn.send(("error", f"{type(exc).__name__}: {str(exc).strip()[:200]}{where}"))


# ---- the parent's side -------------------------------------------------------------------

class Worker:
    """A render worker process, replaced whenever it crashes or hangs.

    `job(piece, fmt, out_dir) -> result` runs in the worker; it must be a
    module-level function (it is sent to a spawned process, so a script that
    renders needs the usual `if __name__ == "__main__":` guard)."""

    def __init__(self, timeout: float = 60.0, job=_render_one):
        self.timeout = timeout
        self.job = job
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._conn = None

    def start(self) -> "Worker":
        """Start the process now (it imports music21 and Verovio while the caller does other work)."""
        if self._proc is None or not self._proc.is_alive():
            self._start()
        return self

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child, self.job), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)
        self._proc, self._conn = None, None

    def run(self, piece: Piece, fmt: str, out_dir: Path, timeout: float | None = None) -> tuple[bool, object]:
        """(True, what the job returned) or (False, a one-line reason). `timeout` overrides the worker's."""
        timeout = self.timeout if timeout is None else timeout
        self.start()
        try:
            self._conn.send((piece, fmt, str(out_dir)))
            # the first job also waits for the worker to import music21 and Verovio
            if self._conn.poll(timeout):
                status, value = self._conn.recv()
                return status == "ok", value
        except (EOFError, BrokenPipeError, ConnectionResetError):
            pass
        self._proc.join(1)  # a crashed worker needs a moment to be reaped
        code = self._proc.exitcode
        self._kill()
        if code is None:
            return False, f"the renderer did not finish within {timeout:g} s"
        signal = f"signal {-code}" if code < 0 else f"exit status {code}"
        return False, f"the renderer crashed ({signal})"

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        if self._proc is not None and self._proc.pid is not None:
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.kill()
        self._proc, self._conn = None, None

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def _using(worker: Worker | None, timeout: float):
    """The caller's worker, left running; or a new one, closed afterwards."""
    if worker is not None:
        yield worker
        return
    with Worker(timeout) as own:
        yield own


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
    try:
        run = subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.7", "-r", str(rate), "-F", str(wav),
                              soundfont(), str(midi)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TunesmithError(f"FluidSynth did not finish within {timeout:g} s") from None
    if run.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
        detail = (run.stderr or run.stdout).strip().splitlines()
        raise TunesmithError(f"FluidSynth failed ({detail[-1] if detail else f'exit status {run.returncode}'})")


def parse_formats(spec: str) -> list[str]:
    formats = [f.strip().lower() for f in spec.split(",") if f.strip()]
    unknown = [f for f in formats if f not in OUTPUTS]
    if unknown or not formats:
        raise TunesmithError(f"--to takes a comma-separated list of {', '.join(OUTPUTS)}, not {spec!r}")
    return formats


def render(files: list[str | Path], formats: list[str], out_dir: str | Path, timeout: float = 60.0,
           show_progress: bool = True, worker: Worker | None = None) -> list[Result]:
    """Render every piece of every file to every format; failures are per piece and format.
    `worker`: a running Worker to use (and leave running), else one is started for this call."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
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
    with _using(worker, timeout) as worker, tempfile.TemporaryDirectory() as scratch:
        for result, piece in jobs:
            for fmt in formats:
                if fmt == "wav":
                    _wav(worker, piece, result, out_dir, Path(scratch), no_wav, timeout)
                else:
                    ok, value = worker.run(piece, fmt, out_dir, timeout)
                    if ok:
                        result.outputs[fmt] = [Path(p) for p in value]
                    else:
                        result.errors[fmt] = value
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    return results


def _wav(worker: Worker, piece: Piece, result: Result, out_dir: Path, scratch: Path, no_wav: str | None,
         timeout: float) -> None:
    """WAV from the piece's MIDI (the one just written, or one made in a scratch folder)."""
    if no_wav:
        result.errors["wav"] = no_wav
        return
    midi = result.outputs.get("midi", [None])[0]
    if midi is None:
        ok, value = worker.run(piece, "midi", scratch, timeout)
        if not ok:
            result.errors["wav"] = value
            return
        midi = Path(value[0])
    wav = out_dir / f"{piece.name}.wav"
    try:
        midi_to_wav(midi, wav, timeout=max(timeout, 120.0))
        result.outputs["wav"] = [wav]
    except TunesmithError as exc:
        result.errors["wav"] = str(exc)
