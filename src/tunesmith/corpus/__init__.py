"""Reading corpora: named ones from music21's bundled corpus, or any file, folder or glob.

A corpus becomes a list of `Piece`s in the training shape of its reader:
text for the character codec (ABC tunes and **kern bodies, see `abc.py` and
`kern.py`), or parts as note events for the event codec (MIDI, MusicXML,
**kern and ABC through music21, see `scores.py`). Broken files and tunes are
skipped with their path and a one-line reason, never fatal; an empty corpus
is an error.

Styles: `NAME=SPEC` gives every piece of SPEC the style NAME, and a folder
whose subfolders hold the music (and no music of its own) reads each
subfolder as a style. One model then learns them all, with a style token at
the start of each piece.
"""

from __future__ import annotations

import glob as globlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith import TunesmithError, log
from tunesmith.corpus import abc, kern, scores

EXTENSIONS = {".abc": "abc", ".krn": "kern", ".kern": "kern", ".mid": "midi", ".midi": "midi",
              ".xml": "musicxml", ".mxl": "musicxml", ".musicxml": "musicxml"}
TEXT_FORMATS = ("abc", "kern")
FORMATS = ("abc", "kern", "midi", "musicxml")
CODECS = ("auto", "chars", "events")


@dataclass(frozen=True)
class NamedCorpus:
    name: str
    folder: str        # folder inside music21's corpus
    format: str
    description: str


NAMED = {
    c.name: c
    for c in [
        NamedCorpus("oneills", "oneills1850", "abc", "O'Neill's Music of Ireland (1850), Irish dance tunes"),
        NamedCorpus("ryans", "ryansMammoth", "abc", "Ryan's Mammoth Collection (1883), fiddle tunes"),
        NamedCorpus("essen", "essenFolksong", "abc", "Essen Folksong Collection (selection), European folk songs"),
        NamedCorpus("airds", "airdsAirs", "abc", "Aird's Selection of Scotch, English, Irish and Foreign Airs"),
        NamedCorpus("palestrina", "palestrina", "kern", "Palestrina masses, polyphonic, **kern"),
        NamedCorpus("chorales", "bach", "musicxml", "J. S. Bach, four-part chorales, MusicXML"),
    ]
}


@dataclass
class Piece:
    name: str       # where it came from: path, and tune number for books
    text: str       # training-shape text (canonical ABC tune, stripped **kern body, readable event line)
    format: str     # abc, kern, or events
    meta: dict = field(default_factory=dict)  # kern header; events (PartEvents JSON); style


@dataclass
class Corpus:
    name: str
    format: str
    pieces: list[Piece]
    skipped: list[tuple[str, str]]  # (path or piece, reason)
    duplicates: int = 0
    styles: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for p in self.pieces:
            h.update(p.text.encode("utf-8"))
        return h.hexdigest()[:16]


def music21_corpus_root() -> Path:
    try:
        import music21.corpus
    except ImportError as exc:  # pragma: no cover - music21 is a dependency
        raise TunesmithError("music21 is not installed; run the setup command in the README") from exc
    return Path(music21.corpus.__file__).parent


def format_of(path: Path) -> str | None:
    return EXTENSIONS.get(path.suffix.lower())


def _music_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and format_of(p))


def _files_of(spec: str) -> tuple[list[Path], list[str | None]]:
    """One corpus spec → (files, the style of each: from NAME=SPEC, a style subfolder, or None)."""
    style = None
    if "=" in spec and spec.split("=", 1)[0].isidentifier():
        style, spec = spec.split("=", 1)
    if spec in NAMED:
        named = NAMED[spec]
        folder = music21_corpus_root() / named.folder
        found = [p for p in _music_files(folder) if format_of(p) == named.format]
        if not found:
            raise TunesmithError(f"music21's corpus has no files in {folder}")
        return found, [style] * len(found)
    path = Path(spec).expanduser()
    if path.is_dir():
        found = _music_files(path)
        subfolders = sorted({p.relative_to(path).parts[0] for p in found if len(p.relative_to(path).parts) > 1})
        if style is None and len(subfolders) >= 2 and all(len(p.relative_to(path).parts) > 1 for p in found):
            return found, [p.relative_to(path).parts[0] for p in found]
    elif path.is_file():
        found = [path]
    elif any(ch in spec for ch in "*?["):
        found = sorted(Path(p) for p in globlib.glob(str(path), recursive=True) if Path(p).is_file())
    else:
        raise TunesmithError(f"corpus '{spec}' is neither a named corpus ({', '.join(NAMED)}) "
                             f"nor an existing file, folder or glob")
    if not found:
        raise TunesmithError(f"no music files (.abc, .krn, .mid, .musicxml, .mxl, .xml) found in '{spec}'")
    return found, [style] * len(found)


def resolve(spec: str | list[str], fmt: str | None = None, codec: str = "auto"
            ) -> tuple[str, str, list[Path], list[str | None]]:
    """Corpus spec(s) → (display name, reader, files, style of each file).

    A spec is a named corpus, a file, a folder (searched recursively) or a glob,
    optionally as NAME=SPEC to make it a style. The reader is `abc` or `kern`
    (text, for the character codec) or `events` (any score, for the event codec).
    """
    specs = [spec] if isinstance(spec, str) else list(spec)
    if not specs:
        raise TunesmithError("no corpus given")
    if codec not in CODECS:
        raise TunesmithError(f"--codec must be one of {', '.join(CODECS)}, not {codec!r}")
    if fmt is not None and fmt not in FORMATS:
        raise TunesmithError(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    files: list[Path] = []
    styles: list[str | None] = []
    for s in specs:
        bare = s.split("=", 1)[1] if "=" in s and s.split("=", 1)[0].isidentifier() else s
        if bare in NAMED and fmt is not None and fmt != NAMED[bare].format:
            raise TunesmithError(f"corpus '{bare}' is {NAMED[bare].format}, not {fmt}: drop --format or pick another corpus")
        found, found_styles = _files_of(s)
        # --format picks files in folders and named corpora; a file or glob given by hand is read as that format
        keep = [i for i, p in enumerate(found) if fmt is None or format_of(p) == fmt or
                (not Path(bare).expanduser().is_dir() and bare not in NAMED)]
        if not keep:
            raise TunesmithError(f"no {fmt} files in '{s}'")
        files += [found[i] for i in keep]
        styles += [found_styles[i] for i in keep]
    if any(st is not None for st in styles) and any(st is None for st in styles):
        raise TunesmithError("some corpora have a style and some do not: name every one as STYLE=CORPUS")
    formats = {fmt or format_of(p) for p in files}
    formats.discard(None)
    if not formats:
        raise TunesmithError("cannot tell the format of the corpus files from their extensions; pass --format")
    if codec == "chars" or (codec == "auto" and formats <= set(TEXT_FORMATS)):
        if len(formats) > 1:
            raise TunesmithError(f"the corpus mixes formats ({', '.join(sorted(formats))}); the character codec "
                                 f"reads one: pass --format, separate corpora, or --codec events")
        reader = formats.pop()
        if reader not in TEXT_FORMATS:
            raise TunesmithError(f"the character codec reads ABC or **kern text, not {reader}: use --codec events")
    else:
        reader = "events"
    name = "+".join(specs) if len(specs) <= 3 else f"{specs[0]}+{len(specs) - 1} more"
    return name, reader, files, styles


def read_file(path: Path, fmt: str) -> tuple[list[Piece], list[tuple[str, str]]]:
    """One file → (pieces, skipped). Raises OSError/ValueError for an unreadable file."""
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise ValueError("binary data, not a text file")
    text = abc.decode(data)
    if fmt == "abc":
        found, skipped = abc.read_book(text, str(path))
        if not found and not skipped:
            raise ValueError("no tunes (no X: line)")
        return [Piece(n, t, "abc") for n, t in found], skipped
    body, header = kern.strip(text)
    return [Piece(str(path), body, "kern", {"header": header.to_json()})], []


def load(spec: str | list[str], fmt: str | None = None, show_progress: bool = True, codec: str = "auto",
         parts: str = "melody", transpose: str | None = None) -> Corpus:
    """Read a corpus, skipping (and reporting) broken files, tunes and exact duplicates.

    `parts` and `transpose` apply to note events: which parts of a score become
    sequences, and the key every piece is moved to ("C": C major / A minor).
    """
    name, reader, files, styles = resolve(spec, fmt, codec)
    target = scores.parse_key(transpose) if transpose else None
    if reader != "events" and (transpose or parts != "melody"):
        raise TunesmithError("--transpose and --parts work on note events: add --codec events")
    style_of = {str(p): st for p, st in zip(files, styles)}
    found: list[Piece] = []
    skipped: list[tuple[str, str]] = []
    if reader == "events":
        result = scores.read_files(files, scores.ReaderSettings(parts), show_progress=show_progress)
        skipped += result.skipped
        if result.cached and show_progress:
            log.info(f"{result.cached} of {len(files)} files from the parse cache ({scores.cache_dir()})")
        for path, parts in result.files.items():
            for part in parts:
                if target is not None:
                    part = part.in_key(target)
                found.append(Piece(part.name, part.text(), "events",
                                   {"events": part.to_json(), "style": style_of[path]}))
    else:
        bar = log.progress(len(files), f"reading {name}", unit="file") if show_progress and len(files) > 20 else None
        for path in files:
            try:
                pieces, bad = read_file(path, reader)
            except (OSError, ValueError, kern.KernError) as exc:
                skipped.append((str(path), str(exc) or type(exc).__name__))
                pieces, bad = [], []
            skipped += bad
            for piece in pieces:
                piece.meta["style"] = style_of[str(path)]
            found += pieces
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    pieces, seen, duplicates = [], set(), 0
    for piece in found:
        if piece.text in seen:
            duplicates += 1
            continue
        seen.add(piece.text)
        pieces.append(piece)
    used = sorted({p.meta["style"] for p in pieces if p.meta.get("style")})
    return Corpus(name, reader, pieces, skipped, duplicates, used, [str(p) for p in files])


SHIFTS = [1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6]


def augment(pieces: list[Piece], copies: int) -> list[Piece]:
    """Up to `copies` transposed copies of each event piece (+1, -1, +2, -2, ... semitones),
    leaving out copies that leave the MIDI range. Text pieces cannot be transposed."""
    if not 0 <= copies <= len(SHIFTS):
        raise TunesmithError(f"--augment must be between 0 and {len(SHIFTS)}, not {copies}")
    out = []
    for piece in pieces:
        if piece.format != "events":
            raise TunesmithError("--augment works on note events: add --codec events")
        part = scores.PartEvents.from_json(piece.meta["events"])
        for shift in SHIFTS[:copies]:
            moved = part.transposed(shift)
            if moved.fits_midi():
                out.append(Piece(f"{piece.name}@{shift:+d}", moved.text(), "events",
                                 {**piece.meta, "events": moved.to_json()}))
    return out


def report(corpus: Corpus) -> None:
    """Tell a person what was skipped and why, one line each, then the counts."""
    for where, reason in corpus.skipped[:50]:
        log.warn(f"skipped {where}: {reason}")
    if len(corpus.skipped) > 50:
        log.warn(f"... and {len(corpus.skipped) - 50} more skipped")
    log.info(f"corpus {corpus.name}: {len(corpus.pieces)} pieces ({corpus.format}), "
             f"{len(corpus.skipped)} skipped, {corpus.duplicates} exact duplicates dropped")
    if corpus.styles:
        counts = {s: sum(p.meta.get("style") == s for p in corpus.pieces) for s in corpus.styles}
        log.info("styles: " + ", ".join(f"{s} ({n})" for s, n in counts.items()))


def require_pieces(corpus: Corpus) -> None:
    if not corpus.pieces:
        raise TunesmithError(f"corpus {corpus.name} has no usable pieces "
                             f"({len(corpus.skipped)} skipped): nothing to train on")
