"""Reading corpora: named ones from music21's bundled corpus, or any file, folder or glob.

A corpus becomes a list of `Piece`s in the training shape of its format (see
`abc.py` and `kern.py`). Broken files and tunes are skipped with their path and
a one-line reason, never fatal; an empty corpus is an error.
"""

from __future__ import annotations

import glob as globlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith import TunesmithError, log
from tunesmith.corpus import abc, kern

EXTENSIONS = {".abc": "abc", ".krn": "kern", ".kern": "kern"}
FORMATS = ("abc", "kern")


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
    ]
}


@dataclass
class Piece:
    name: str       # where it came from: path, and tune number for books
    text: str       # training-shape text (canonical ABC tune, or stripped **kern body)
    format: str
    meta: dict = field(default_factory=dict)  # format details kept for writing back (kern header)


@dataclass
class Corpus:
    name: str
    format: str
    pieces: list[Piece]
    skipped: list[tuple[str, str]]  # (path or piece, reason)
    duplicates: int = 0

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


def resolve(spec: str | list[str], fmt: str | None = None) -> tuple[str, str, list[Path]]:
    """Corpus spec(s) → (display name, format, files). A spec is a named corpus,
    a file, a folder (searched recursively) or a glob pattern."""
    specs = [spec] if isinstance(spec, str) else list(spec)
    if not specs:
        raise TunesmithError("no corpus given")
    files: list[Path] = []
    formats: set[str] = set()
    for s in specs:
        if s in NAMED:
            named = NAMED[s]
            if fmt is not None and fmt != named.format:
                raise TunesmithError(f"corpus '{s}' is {named.format}, not {fmt}: drop --format or pick another corpus")
            folder = music21_corpus_root() / named.folder
            found = sorted(p for p in folder.rglob("*") if format_of(p) == named.format)
            if not found:
                raise TunesmithError(f"music21's corpus has no files in {folder}")
            files += found
            formats.add(named.format)
            continue
        path = Path(s).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and format_of(p)
                           and (fmt is None or format_of(p) == fmt))
        elif path.is_file():
            found = [path]
        elif any(ch in s for ch in "*?["):
            found = sorted(Path(p) for p in globlib.glob(str(path), recursive=True) if Path(p).is_file())
        else:
            known = ", ".join(NAMED)
            raise TunesmithError(f"corpus '{s}' is neither a named corpus ({known}) nor an existing file, folder or glob")
        if not found:
            raise TunesmithError(f"no ABC or **kern files found in '{s}'")
        files += found
        for p in found:
            f = fmt or format_of(p)
            if f:
                formats.add(f)
    if fmt is None:
        if not formats:
            raise TunesmithError("cannot tell the format of the corpus files from their extensions; pass --format abc or --format kern")
        if len(formats) > 1:
            raise TunesmithError(f"the corpus mixes formats ({', '.join(sorted(formats))}); a text model reads one: pass --format or separate corpora")
        fmt = formats.pop()
    if fmt not in FORMATS:
        raise TunesmithError(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    name = "+".join(specs) if len(specs) <= 3 else f"{specs[0]}+{len(specs) - 1} more"
    return name, fmt, files


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


def load(spec: str | list[str], fmt: str | None = None, show_progress: bool = True) -> Corpus:
    """Read a corpus, skipping (and reporting) broken files, tunes and exact duplicates."""
    name, fmt, files = resolve(spec, fmt)
    pieces: list[Piece] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    duplicates = 0
    bar = log.progress(len(files), f"reading {name}", unit="file") if show_progress and len(files) > 20 else None
    for path in files:
        try:
            found, bad = read_file(path, fmt)
        except (OSError, ValueError, kern.KernError) as exc:
            skipped.append((str(path), str(exc) or type(exc).__name__))
            found, bad = [], []
        skipped += bad
        for piece in found:
            if piece.text in seen:
                duplicates += 1
                continue
            seen.add(piece.text)
            pieces.append(piece)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return Corpus(name, fmt, pieces, skipped, duplicates)


def report(corpus: Corpus) -> None:
    """Tell a person what was skipped and why, one line each, then the counts."""
    for where, reason in corpus.skipped[:50]:
        log.warn(f"skipped {where}: {reason}")
    if len(corpus.skipped) > 50:
        log.warn(f"... and {len(corpus.skipped) - 50} more skipped")
    log.info(f"corpus {corpus.name}: {len(corpus.pieces)} pieces ({corpus.format}), "
             f"{len(corpus.skipped)} skipped, {corpus.duplicates} exact duplicates dropped")


def require_pieces(corpus: Corpus) -> None:
    if not corpus.pieces:
        raise TunesmithError(f"corpus {corpus.name} has no usable pieces "
                             f"({len(corpus.skipped)} skipped): nothing to train on")
