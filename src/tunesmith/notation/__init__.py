"""Music notation in files: ABC text (`abc.py`), Humdrum **kern text (`kern.py`) and scores of any
format read through music21 as note events (`scores.py`).

This layer knows formats, not models: the codecs build on it, the corpus
reader above them.

Every music21 parse in the package goes through `parse_path` or `parse_text`
here. music21 keeps a cache of parsed files as pickles in its scratch folder
(by default /tmp/music21, shared by every user of the machine) and unpickles
one when it is newer than the file it stands for: whoever can write that
folder can run code in any process that parses a file. So both helpers pass
`forceSource=True` (no pickle is read or written), text is parsed as data
(`converter.parse` would take a text that names an existing file for that
file, or an address for a download), and `music21_safely()` first points
music21's scratch folder at a private one (see `scratch_folder`). It changes
music21's settings in this process only, never the user's settings file.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
from pathlib import Path

from tunesmith.notation.abc_music21 import for_music21

_scratch: tuple[Path, Path] | None = None   # (the folder asked for, the folder music21 was given)


def _asked() -> Path:
    base = os.environ.get("TUNESMITH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tunesmith")
    return Path(base) / "music21"


def scratch_folder() -> Path:
    """The private folder music21 may use for scratch files: TUNESMITH_CACHE (else
    $XDG_CACHE_HOME/tunesmith or ~/.cache/tunesmith) /music21, made with mode 0700; where that
    is not a folder of this user's that nobody else may enter, a new temporary folder of its own."""
    folder = _asked()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        if _private(folder):
            return folder
    except OSError:
        pass
    own = Path(tempfile.mkdtemp(prefix="tunesmith-music21-"))   # mode 0700, unique
    atexit.register(shutil.rmtree, own, ignore_errors=True)
    return own


def _private(folder: Path) -> bool:
    """Whether `folder` is a real folder (not a link) owned by this user, closed to everyone else."""
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return False
    if info.st_mode & 0o077:
        folder.chmod(0o700)
        info = folder.lstat()
    return not info.st_mode & 0o077


def music21_safely() -> Path:
    """Before music21 reads anything: its scratch folder becomes `scratch_folder()` (set in this
    process's music21 environment; nothing is written to the user's settings). Done again only when
    that folder is gone (music21 refuses to parse without it) or TUNESMITH_CACHE names another."""
    global _scratch
    asked = _asked()
    if _scratch is None or _scratch[0] != asked or not _scratch[1].is_dir():
        # music21 is imported where used: it costs about a second at start-up
        from music21 import environment

        folder = scratch_folder()
        # Environment's item assignment changes the settings of this process only ("must call
        # write() to make permanent"); environment.set() would save them in the user's ~/.music21rc
        environment.Environment()["directoryScratch"] = folder
        _scratch = (asked, folder)
    return _scratch[1]


def parse_path(path: str | Path, fmt: str | None = None):
    """The score in the file `path` (format by its suffix, or `fmt`), never from music21's pickles."""
    music21_safely()
    from music21 import converter

    return converter.parseFile(str(path), format=fmt, forceSource=True)


def parse_text(text: str, fmt: str):
    """The score written in `text` in the music21 format `fmt` (abc, humdrum, musicxml). Always read as
    data: never as a file name, an address or a pickle."""
    music21_safely()
    from music21 import converter

    if fmt == "abc":   # the default unit length written out, body meters where music21 applies them
        text = for_music21(text)
    return converter.parseData(text, format=fmt, forceSource=True)
