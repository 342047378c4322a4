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

import errno
import glob as globlib
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith import TunesmithError, atomic, log
from tunesmith.codecs import CODECS, CodecOptions, Piece, choose
from tunesmith.formats import FORMATS, ROLL_FORMATS, format_of


@dataclass(frozen=True)
class NamedCorpus:
    name: str
    folder: str        # folder inside music21's corpus
    format: str
    description: str
    # where a corpus has styles of its own: (style, its folders inside music21's corpus), for one of each
    parts: tuple[tuple[str, tuple[str, ...]], ...] = ()


NAMED = {
    c.name: c
    for c in [
        NamedCorpus("oneills", "oneills1850", "abc", "O'Neill's Music of Ireland (1850), Irish dance tunes"),
        NamedCorpus("ryans", "ryansMammoth", "abc", "Ryan's Mammoth Collection (1883), fiddle tunes"),
        NamedCorpus("essen", "essenFolksong", "abc", "Essen Folksong Collection (selection), European folk songs"),
        NamedCorpus("airds", "airdsAirs", "abc", "Aird's Selection of Scotch, English, Irish and Foreign Airs"),
        NamedCorpus("palestrina", "palestrina", "kern", "Palestrina masses, polyphonic, **kern"),
        NamedCorpus("chorales", "bach", "musicxml", "J. S. Bach, four-part chorales, MusicXML"),
        NamedCorpus("quartets", "", "musicxml", "string quartets, one style per composer: Beethoven (opp. 18, "
                    "59, 74, 132, 133), Haydn (opp. 1/1, 74/1), Mozart (K. 80, 155, 156, 458), MusicXML",
                    (("beethoven", ("beethoven",)), ("haydn", ("haydn",)),
                     ("mozart", ("mozart/k80", "mozart/k155", "mozart/k156", "mozart/k458")))),
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
    repeats: list[tuple[str, str]] = field(default_factory=list)   # (duplicate dropped, the piece it repeats)

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


def _kind(path: Path) -> str | None:
    """Why `path` cannot be read as a music file (a folder, a dangling link, a device, a name that is
    not UTF-8, ...), or None for a regular file. Never opens it: a FIFO or a device is not read."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "a dangling link" if path.is_symlink() else "no such file"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a link loop"
        return exc.strerror or type(exc).__name__
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    what = {stat.S_IFCHR: "a device", stat.S_IFBLK: "a device", stat.S_IFIFO: "a FIFO",
            stat.S_IFSOCK: "a socket"}.get(stat.S_IFMT(mode), "not a file")
    return f"not a regular file ({what})"


def _walk(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Every entry under `folder` (links to folders are not followed, so a loop cannot hang it),
    and the folders that could not be listed."""
    entries, skipped, todo = [], [], [folder]
    while todo:
        here = todo.pop()
        try:
            with os.scandir(here) as it:
                listed = list(it)
        except OSError as exc:
            skipped.append((str(here), f"cannot list the folder: {exc.strerror or exc}"))
            continue
        for entry in listed:
            path = Path(entry.path)
            entries.append(path)
            try:
                if entry.is_dir(follow_symlinks=False):
                    todo.append(path)
            except OSError:
                pass
    return entries, skipped


def _music_files(entries: list[Path], keep_unknown: bool = False) -> tuple[list[Path], list[tuple[str, str]]]:
    """The music files among `entries` (by extension; any regular file with `keep_unknown`), and each
    entry named like music that cannot be read as a file, with the reason."""
    found, skipped = [], []
    for path in entries:
        music = format_of(path) is not None
        if not music and not keep_unknown:
            continue
        reason = _kind(path)
        if reason is None:
            found.append(path)
        elif music or reason.startswith("the file name"):
            skipped.append((safe_name(str(path)), reason))
    return sorted(found), sorted(skipped)


def _in_folder(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The music files under a folder; roll JSON files only where named (a folder holds other JSON)."""
    entries, unlisted = _walk(folder)
    found, skipped = _music_files([p for p in entries if format_of(p) not in ROLL_FORMATS])
    return found, unlisted + skipped


def _files_of(spec: str) -> tuple[list[Path], list[str | None], list[tuple[str, str]]]:
    """One corpus spec → (files, the style of each: from NAME=SPEC, a style subfolder, or None,
    and the entries skipped with their reasons)."""
    style = None
    if "=" in spec and spec.split("=", 1)[0].isidentifier():
        style, spec = spec.split("=", 1)
    skipped: list[tuple[str, str]] = []
    if spec in NAMED:
        named = NAMED[spec]
        parts = named.parts or ((style, (named.folder,)),)
        files, styles = [], []
        for part_style, folders in parts:
            for sub in folders:
                folder = music21_corpus_root() / sub
                found = [p for p in _in_folder(folder)[0] if format_of(p) == named.format]
                if not found:
                    raise TunesmithError(f"music21's corpus has no files in {folder}")
                files += found
                styles += [style or part_style] * len(found)     # NAME=quartets makes it all one style
        return files, styles, []
    path = Path(spec).expanduser()
    if path.is_dir():
        found, skipped = _in_folder(path)
        subfolders = sorted({p.relative_to(path).parts[0] for p in found if len(p.relative_to(path).parts) > 1})
        if style is None and len(subfolders) >= 2 and all(len(p.relative_to(path).parts) > 1 for p in found):
            return found, [p.relative_to(path).parts[0] for p in found], skipped
    elif path.exists() or path.is_symlink():
        reason = _kind(path)
        if reason is not None:
            raise TunesmithError(f"corpus '{safe_name(spec)}' cannot be read: {reason}")
        found = [path]
    elif any(ch in spec for ch in "*?["):
        found, skipped = _music_files([Path(p) for p in globlib.glob(str(path), recursive=True)], True)
    else:
        raise TunesmithError(f"corpus '{safe_name(spec)}' is neither a named corpus ({', '.join(NAMED)}) "
                             f"nor an existing file, folder or glob")
    if not found:
        why = f" ({len(skipped)} skipped, e.g. {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise TunesmithError(f"no music files (.abc, .krn, .mid, .musicxml, .mxl, .xml) found in "
                             f"'{safe_name(spec)}'{why}")
    return found, [style] * len(found), skipped


def resolve(spec: str | list[str], fmt: str | None = None, codec: str = "auto"
            ) -> tuple[str, str, list[Path], list[str | None]]:
    """Corpus spec(s) → (display name, reader, files, style of each file).

    A spec is a named corpus, a file, a folder (searched recursively) or a glob,
    optionally as NAME=SPEC to make it a style. The reader is the one the codec
    (`codec`, or for auto the first registered that reads the files) reads them
    with: `abc` or `kern` (text, for the character codec) or `events` (any
    score, for the event codec).
    """
    name, _, reader, files, styles, _ = _resolve(spec, fmt, codec)
    return name, reader, files, styles


def _resolve(spec: str | list[str], fmt: str | None, codec: str):
    specs = [spec] if isinstance(spec, str) else list(spec)
    if not specs:
        raise TunesmithError("no corpus given")
    if fmt is not None and fmt not in FORMATS:
        raise TunesmithError(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    files: list[Path] = []
    styles: list[str | None] = []
    skipped: list[tuple[str, str]] = []
    for s in specs:
        bare = s.split("=", 1)[1] if "=" in s and s.split("=", 1)[0].isidentifier() else s
        if bare in NAMED and fmt is not None and fmt != NAMED[bare].format:
            raise TunesmithError(f"corpus '{bare}' is {NAMED[bare].format}, not {fmt}: drop --format or pick another corpus")
        found, found_styles, not_files = _files_of(s)
        skipped += not_files
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
    return name, reads, reader, files, styles, skipped


def load(spec: str | list[str], fmt: str | None = None, show_progress: bool = True, codec: str = "auto",
         parts: str = "melody", transpose: str | None = None, options: CodecOptions | None = None) -> Corpus:
    """Read a corpus, skipping (and reporting) broken files, tunes and exact duplicates.

    `options` (or `fmt`, `codec`, `parts`, `transpose`) say how: which files, which codec reads
    them, which parts of a score become sequences, the key every piece is moved to ("C": C major /
    A minor) where the codec can transpose.
    """
    options = options or CodecOptions(format=fmt, codec=codec, parts=parts, transpose=transpose)
    name, reads, reader, files, styles, skipped = _resolve(spec, options.format, options.codec)
    style_of = {str(p): st for p, st in zip(files, styles)}
    by_file, unread = reads.read_files(files, reader, options, show_progress)
    skipped = skipped + list(unread)
    pieces, seen, repeats = [], {}, []
    for path, found in by_file:
        for piece in found:
            piece.meta["style"] = style_of[path]
            if piece.text in seen:
                repeats.append((piece.name, seen[piece.text]))
                continue
            seen[piece.text] = piece.name
            pieces.append(piece)
    used = sorted({p.meta["style"] for p in pieces if p.meta.get("style")})
    return Corpus(name, reader, pieces, skipped, len(repeats), used, [str(p) for p in files], reads.kind, repeats)


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


SHOWN = 50   # skip reasons shown one line each; the rest are counted (all are in skipped.tsv)


def safe_name(where: str) -> str:
    """A path or piece name as text that can be written anywhere: bytes of a file name that are
    not UTF-8 (os keeps them as surrogates) become backslash escapes."""
    return where.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def write_skipped(corpus: Corpus, folder: str | Path) -> Path | None:
    """Every skipped (where, reason) as FOLDER/skipped.tsv, one tab-separated line each, then each
    exact duplicate dropped ("an exact duplicate of PIECE"), written atomically; None (and no file)
    when nothing was skipped or dropped."""
    dropped = corpus.skipped + [(name, f"an exact duplicate of {first}") for name, first in corpus.repeats]
    if not dropped:
        return None
    path = Path(folder) / "skipped.tsv"
    lines = ["where\treason"]
    for where, reason in dropped:
        lines.append(f"{_tsv(safe_name(str(where)))}\t{_tsv(safe_name(str(reason)))}")
    atomic.write_text(path, "\n".join(lines) + "\n")
    return path


def _tsv(text: str) -> str:
    return text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")   # one line, two columns


def report(corpus: Corpus, saved: str | Path | None = None) -> None:
    """Tell a person what was skipped and why, one line each (the first 50), then the counts;
    `saved`: where every reason was written (`write_skipped`), named when some are not shown."""
    for where, reason in corpus.skipped[:SHOWN]:
        log.warn(f"skipped {safe_name(str(where))}: {reason}")
    if len(corpus.skipped) > SHOWN:
        more = len(corpus.skipped) - SHOWN
        log.warn(f"... and {more} more skipped" + (f" (all reasons in {saved})" if saved is not None else ""))
    log.info(f"corpus {corpus.name}: {len(corpus.pieces)} pieces ({corpus.format}), "
             f"{len(corpus.skipped)} skipped, {corpus.duplicates} exact duplicates dropped")
    if corpus.styles:
        counts = {s: sum(p.meta.get("style") == s for p in corpus.pieces) for s in corpus.styles}
        log.info("styles: " + ", ".join(f"{s} ({n})" for s, n in counts.items()))


def require_pieces(corpus: Corpus) -> None:
    if not corpus.pieces:
        raise TunesmithError(f"corpus {corpus.name} has no usable pieces "
                             f"({len(corpus.skipped)} skipped): nothing to train on")
