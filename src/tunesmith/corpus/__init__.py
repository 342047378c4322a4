"""Reading corpora: named ones from music21's bundled corpus, or any file, folder or glob.

A corpus becomes a list of `Piece`s in the training shape of the codec that
reads it (`Codec.reader_for` and `Codec.read_files`): text for the character
codec (ABC tunes and **kern bodies, see `notation/abc.py` and `notation/kern.py`),
or parts as note events for the event codec (MIDI, MusicXML, **kern and ABC
through music21, see `notation/scores.py`). Broken files and tunes are
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
from tunesmith.codecs import CODECS, CodecOptions, Piece, choose
from tunesmith.formats import FORMATS, format_of


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
class Corpus:
    name: str
    format: str
    pieces: list[Piece]
    skipped: list[tuple[str, str]]  # (path or piece, reason)
    duplicates: int = 0
    styles: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    codec: str = ""                 # the codec (kind) whose reader read it

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for p in self.pieces:
            h.update(p.text.encode("utf-8"))
        return h.hexdigest()[:16]


def music21_corpus_root() -> Path:
    try:   # music21 is imported where used: it costs about a second at start-up
        import music21.corpus
    except ImportError as exc:  # pragma: no cover - music21 is a dependency
        raise TunesmithError("music21 is not installed; run the setup command in the README") from exc
    return Path(music21.corpus.__file__).parent


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
    optionally as NAME=SPEC to make it a style. The reader is the one the codec
    (`codec`, or for auto the first registered that reads the files) reads them
    with: `abc` or `kern` (text, for the character codec) or `events` (any
    score, for the event codec).
    """
    name, _, reader, files, styles = _resolve(spec, fmt, codec)
    return name, reader, files, styles


def _resolve(spec: str | list[str], fmt: str | None, codec: str):
    specs = [spec] if isinstance(spec, str) else list(spec)
    if not specs:
        raise TunesmithError("no corpus given")
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
    reads, reader = choose(codec, formats)
    name = "+".join(specs) if len(specs) <= 3 else f"{specs[0]}+{len(specs) - 1} more"
    return name, reads, reader, files, styles


def load(spec: str | list[str], fmt: str | None = None, show_progress: bool = True, codec: str = "auto",
         parts: str = "melody", transpose: str | None = None, options: CodecOptions | None = None) -> Corpus:
    """Read a corpus, skipping (and reporting) broken files, tunes and exact duplicates.

    `options` (or `fmt`, `codec`, `parts`, `transpose`) say how: which files, which codec reads
    them, which parts of a score become sequences, the key every piece is moved to ("C": C major /
    A minor) where the codec can transpose.
    """
    options = options or CodecOptions(format=fmt, codec=codec, parts=parts, transpose=transpose)
    name, reads, reader, files, styles = _resolve(spec, options.format, options.codec)
    style_of = {str(p): st for p, st in zip(files, styles)}
    by_file, skipped = reads.read_files(files, reader, options, show_progress)
    pieces, seen, duplicates = [], set(), 0
    for path, found in by_file:
        for piece in found:
            piece.meta["style"] = style_of[path]
            if piece.text in seen:
                duplicates += 1
                continue
            seen.add(piece.text)
            pieces.append(piece)
    used = sorted({p.meta["style"] for p in pieces if p.meta.get("style")})
    return Corpus(name, reader, pieces, skipped, duplicates, used, [str(p) for p in files], reads.kind)


def augment(corpus: Corpus, pieces: list[Piece], copies: int) -> list[Piece]:
    """Up to `copies` transposed copies of each piece of a corpus whose codec can transpose."""
    return CODECS[corpus.codec].augment(pieces, copies) if copies else []


def lengths(corpus: Corpus) -> tuple[list[int], str]:
    """Each piece's length, and the unit (characters, events) its codec measures it in."""
    unit = "pieces"
    sizes = []
    for piece in corpus.pieces:
        size, unit = CODECS[corpus.codec].length(piece)
        sizes.append(size)
    return sizes, unit


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
