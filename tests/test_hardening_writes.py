"""Issue 18 (hardening): a write that fails (a read-only folder, a path that is a file, a full disk)
ends in one line `error: cannot write PATH: CAUSE` and exit status 2, never a traceback, and leaves
no temporary or half-written file behind."""

import errno
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tunesmith import atomic, cli

ROOT = Path(__file__).resolve().parents[1]
TUNE = "X:1\nT:Tune\nM:4/4\nL:1/8\nK:G\nGABc dedB|A2FA dAFA|\n"
FAST = ["--max-length", "20", "--seed", "1", "--device", "cpu"]


def left_over(folder: Path) -> list[str]:
    """Temporaries and empty files under `folder`."""
    return [str(p) for p in folder.rglob("*")
            if ".tmp" in p.name or ".old-" in p.name or (p.is_file() and p.stat().st_size == 0)]


# ---- atomic ---------------------------------------------------------------------------------------

def test_a_full_disk_leaves_no_temporary_and_names_the_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    target = tmp_path / "out" / "piece.abc"
    with pytest.raises(atomic.WriteError) as caught:
        atomic.write_text(target, TUNE)
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(target))
    assert caught.value.strerror == "No space left on device"
    assert list((tmp_path / "out").iterdir()) == []


def test_a_failed_folder_is_removed_and_the_old_one_kept(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.json").write_text("{}")
    with pytest.raises(atomic.WriteError) as caught:
        with atomic.folder(target) as tmp:
            (tmp / "weights").write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp / "weights"))
    assert caught.value.filename == str(target / "weights")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"] and (target / "old.json").exists()
    # an error about reading something else is not a write error: it passes unchanged
    with pytest.raises(FileNotFoundError) as caught:
        with atomic.folder(target):
            (tmp_path / "no-such-source").read_bytes()
    assert not isinstance(caught.value, atomic.WriteError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_file_where_a_folder_should_be(tmp_path):
    afile = tmp_path / "out"
    afile.write_text("mine\n")
    with pytest.raises(atomic.WriteError, match="it is a file, not a folder"):
        atomic.ensure_folder(afile)
    with pytest.raises(atomic.WriteError, match=f"{afile} is a file, not a folder") as caught:
        atomic.write_text(afile / "sub" / "piece.abc", TUNE)
    assert caught.value.filename == str(afile / "sub" / "piece.abc")
    with pytest.raises(atomic.WriteError, match="it is a file, not a folder"):
        with atomic.folder(afile):
            pass
    assert afile.read_text() == "mine\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_os_error_is_one_sentence():
    assert cli.os_error(atomic.WriteError(errno.EACCES, "Permission denied", "/x/y.abc")) == \
        "cannot write /x/y.abc: Permission denied"
    assert cli.os_error(FileNotFoundError(errno.ENOENT, "No such file or directory", "in.abc")) == \
        "cannot read in.abc: No such file or directory"
    assert cli.os_error(OSError(errno.ENOSPC, "No space left on device")) == "cannot write: No space left on device"


# ---- the commands ----------------------------------------------------------------------------------

def one_error_line(capsys, code: int, name: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1, err
    assert name in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("command", ["sample", "compose", "render", "export"])
def test_an_output_path_that_is_a_file(tmp_path, capsys, command):
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    (tmp_path / "tune.abc").write_text(TUNE)
    argv = {"sample": ["sample", "folk", "-n", "1", "--max-copy", "off", *FAST, "-o", str(afile)],
            "compose": ["compose", "-n", "1", "--any", "--to", "", *FAST, "-o", str(afile)],
            "render": ["render", str(tmp_path / "tune.abc"), "--to", "midi", "-o", str(afile)],
            "export": ["export", "folk", "--out", str(afile / "model")]}[command]
    line = one_error_line(capsys, cli.main(argv), str(afile))
    assert line.endswith(f"{afile} is a file, not a folder" if command == "export"
                         else f"{afile}: it is a file, not a folder"), line
    assert afile.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "tune.abc"]


@pytest.mark.parametrize("command", ["sample", "compose"])
@pytest.mark.parametrize("cause", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_is_one_line(tmp_path, capsys, monkeypatch, command, cause):
    """In this process, a failure at the first write in the output folder (the real thing, for every
    command, is `benchmarks/hostile_writes.py`, below)."""
    out = tmp_path / "out"
    out.mkdir()
    real = tempfile.mkstemp

    def refused(*args, dir=None, **kwargs):
        if dir is not None and str(dir).startswith(str(out)):
            raise OSError(cause, os.strerror(cause), os.path.join(str(dir), ".piece.tmp"))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refused)
    argv = {"sample": ["sample", "folk", "-n", "1", "--max-copy", "off", *FAST, "-o", str(out)],
            "compose": ["compose", "-n", "1", "--any", "--to", "", *FAST, "-o", str(out)]}[command]
    line = one_error_line(capsys, cli.main(argv), str(out / "folk-001.abc" if command == "compose"
                                                      else out / "piece-001.abc"))
    assert line.endswith(os.strerror(cause)) and ".tmp" not in line
    assert list(out.iterdir()) == []


def _can_unshare() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_real_read_only_and_full_disks(tmp_path):
    """Real EROFS and ENOSPC (tmpfs mounts in a private namespace) for sample, compose, render and
    export: no traceback, no partial file, one error line (render: per-piece failures, exit 1)."""
    if not _can_unshare() and os.geteuid() == 0:
        pytest.skip("no private mount namespace (unshare) and root ignores a read-only mode")
    report = tmp_path / "hostile.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "hostile_writes.py"), "--commands",
                           "sample,compose,render,export", "--targets", "readonly,full", "--timeout", "300",
                           "--json", str(report)], capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(report.read_text())
    bad = [r for r in result["runs"] if r["traceback"] or r["partial"] or r["hang"] or not r["one_line"]]
    assert result["counts"]["tracebacks"] == result["counts"]["partial_files"] == 0, bad
    assert not bad, bad


def test_a_library_write_error_names_the_file_and_the_cause(tmp_path):
    class SafetensorError(Exception):
        pass

    full = atomic.library_error(SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                                                'message: "No space left on device" })'), tmp_path / "w.safetensors")
    assert cli.os_error(full) == f"cannot write {tmp_path / 'w.safetensors'}: No space left on device"
    assert atomic.library_error(SafetensorError("I/O error (os error 30)"), "x").strerror == "Read-only file system"
    # the copy guard's index, saved where a folder is a file
    from tunesmith.evaluate.novelty import NoveltyIndex

    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    with pytest.raises(atomic.WriteError) as caught:
        NoveltyIndex.from_pieces([("a", [(60, 1.0), (62, 1.0)])]).save(afile)
    assert caught.value.filename == str(afile / "corpus_index.safetensors")
