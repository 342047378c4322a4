"""music21's parse cache never runs code: no pickle is read, whatever sits in a scratch folder, and
music21's scratch folder is a private one (issue 18, item 1)."""

import os
import pickle
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pytest

from tunesmith import cli, notation, render
from tunesmith.notation import scores
from tunesmith.worker import Worker

TUNE = "X:1\nT:t\nM:4/4\nL:1/8\nK:C\nCDEF GABc|c2B2 A2G2|\n"


class Planted:
    """A pickle that, when loaded, writes the marker file: what an attacker leaves in /tmp/music21."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('code ran')",)


def scratch_job(piece, arg, out_dir):
    """Runs in the worker: read the piece, then say where music21's scratch folder is."""
    from music21 import environment

    render.score_of(piece)
    return str(environment.Environment().getRootTempDir())


def default_scratch() -> Path | None:
    """The folder music21 would use on its own (tempfile's folder / music21), where this user may write."""
    folder = Path(tempfile.gettempdir()) / "music21"
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A MIDI file, and .krn and .abc files whose whole text is the MIDI file's path, with a
    code-running pickle where music21 looks for the MIDI file's cached parse (in the folder music21
    uses by default and in tunesmith's own), newer than the file. Yields (files, marker)."""
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))   # the worker processes inherit it
    from music21 import converter

    song = tmp_path / "song.mid"
    converter.parseData(TUNE, format="abc").write("midi", fp=str(song))
    past = time.time() - 3600
    os.utime(song, (past, past))
    marker = tmp_path / "MARKER"
    data = zlib.compress(pickle.dumps(Planted(marker)))
    folders = [f for f in (default_scratch(), notation.music21_safely()) if f is not None]
    pickles = [converter.PickleFilter(song).getPickleFp(folder, zipType="gz") for folder in folders]
    for p in pickles:
        p.write_bytes(data)
    # the pickle works: music21 left to itself runs it (from tunesmith's folder, set by music21_safely)
    assert not marker.exists()
    try:
        converter.parse(str(song))
    except Exception:  # noqa: BLE001 - what it unpickled is no score
        pass
    assert marker.read_text() == "code ran"
    marker.unlink()
    named = []
    for suffix in (".krn", ".abc"):
        (tmp_path / f"names{suffix}").write_text(str(song))
        named.append(tmp_path / f"names{suffix}")
    yield [song, *named], marker
    for p in pickles:
        p.unlink(missing_ok=True)


def test_render_and_check_never_load_a_planted_pickle(planted, tmp_path):
    files, marker = planted
    cli.main(["render", *map(str, files), "--to", "midi,musicxml", "-o", str(tmp_path / "out")])
    assert not marker.exists(), "render ran the planted pickle"
    cli.main(["check", *map(str, files)])
    assert not marker.exists(), "check ran the planted pickle"
    assert (tmp_path / "out" / "song.mid").stat().st_size > 0   # the MIDI itself was read and rendered


def test_the_score_reader_never_loads_a_planted_pickle(planted):
    files, marker = planted
    for f in files:
        try:
            scores.parse_file(str(f), scores.ReaderSettings("melody"))
        except Exception:  # noqa: BLE001 - a file naming another is no score; it must not run code
            pass
        assert not marker.exists(), f"parse_file({f.name}) ran the planted pickle"
    # the reader's process pool too (cache off: every file is parsed there)
    result = scores.read_files(files, scores.ReaderSettings("melody"), show_progress=False, workers=2, cache=False)
    assert not marker.exists(), "a score-reader process ran the planted pickle"
    assert [Path(f).name for f, parts in result.files.items() if parts] == ["song.mid"]


def test_music21_scratch_folder_is_private_in_every_process(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    folder = notation.scratch_folder()
    info = folder.lstat()
    assert folder == tmp_path / "cache" / "music21"
    assert stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) == 0o700
    # a folder others may enter is closed; a link there is not followed (a folder of its own instead)
    folder.chmod(0o777)
    assert notation.scratch_folder() == folder and stat.S_IMODE(folder.lstat().st_mode) == 0o700
    folder.rmdir()
    (tmp_path / "elsewhere").mkdir(mode=0o777)
    folder.symlink_to(tmp_path / "elsewhere")
    own = notation.scratch_folder()
    assert own != folder and not own.is_symlink() and stat.S_IMODE(own.stat().st_mode) == 0o700
    folder.unlink()

    # this process: music21's scratch folder is the private one, made again if it goes away
    from music21 import environment

    assert notation.music21_safely() == folder and environment.Environment().getRootTempDir() == folder
    shutil.rmtree(folder)
    notation.parse_text(TUNE, "abc")
    assert folder.is_dir() and environment.Environment().getRootTempDir() == folder

    # the worker process reads with the private folder as music21's scratch folder
    with Worker(timeout=60, job=scratch_job) as w:
        ok, used = w.run(render.Piece("t", "abc", text=TUNE), "", tmp_path)
    assert ok and Path(used) == tmp_path / "cache" / "music21", used

    # a process that parses: the private folder, set for that process only (no ~/.music21rc written)
    home = tmp_path / "home"
    home.mkdir()
    code = ("from tunesmith import notation; from music21 import environment; "
            f"notation.parse_text({TUNE!r}, 'abc'); print(environment.Environment().getRootTempDir())")
    env = {k: v for k, v in os.environ.items() if k not in ("TUNESMITH_CACHE", "XDG_CACHE_HOME")}
    run = subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(home)}, capture_output=True,
                         text=True, check=True)
    assert Path(run.stdout.strip()) == home / ".cache" / "tunesmith" / "music21"
    assert not (home / ".music21rc").exists()


def test_no_parse_call_in_the_package_reads_pickles():
    """Every music21 parse in the package is notation.parse_path / parse_text (forceSource=True)."""
    package = Path(notation.__file__).resolve().parents[1]
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in ("converter.parse(", "converter.parseFile(", "converter.parseData(", "corpus.parse("):
            if call in text:
                assert path == Path(notation.__file__).resolve(), f"{path.name} calls music21's {call}"
        assert "storePickle" not in text, path.name
    source = Path(notation.__file__).read_text(encoding="utf-8")
    assert "converter.parseFile(str(path), format=fmt, forceSource=True)" in source
    assert "converter.parseData(text, format=fmt, forceSource=True)" in source
    assert source.count("converter.parse") == 3   # the two calls, and the docstring's word on parse()
