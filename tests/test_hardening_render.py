"""Rendering when things go wrong: Ctrl-C, a MIDI that failed, Verovio's chatter, a full disk
(issue 18, items 10, 12b, 12c and 6)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tunesmith import cli, render
from tunesmith.worker import Worker

from test_render import crash, hang

TUNE = "X:{n}\nT:t{n}\nM:4/4\nL:1/8\nK:C\n" + "CDEF GABc|c2B2 A2G2|" * 8 + "\n"
KERN_BAD = {   # Verovio's **kern reader prints its complaints to stderr itself, and aborts on two of them
    "fields.krn": "**kern\t**kern\n*M4/4\t*M4/4\n4c\t4e\t4g\n=1\n4d\n*-\t*-\t*-\n",
    "split.krn": "**kern\n*M4/4\n4c\n*^\n4d\t4e\t4f\n*v\t*v\n*-\n",
    "unterminated.krn": "**kern\n*M4/4\n4c\n4d\n=1\n4e\n",
}


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*"))


# ---- Ctrl-C ------------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _as_a_shell_starts() -> None:
    """In the child before it runs tunesmith: Ctrl-C delivered and at its default, as a shell starts a
    command. A signal mask and an ignored signal are inherited: in a full run (not in this file alone)
    tunesmith ignored the key here, so this test process held SIGINT blocked or ignored after the tests
    before it; which test leaves it so is not found yet."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(args: list[str], started, cwd: Path) -> subprocess.CompletedProcess:
    """Run tunesmith in its own process group and, once `started()`, press Ctrl-C (SIGINT to the
    whole group, as a terminal does)."""
    proc = subprocess.Popen([sys.executable, "-m", "tunesmith", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=_as_a_shell_starts)
    deadline = time.monotonic() + 120
    while not started(proc) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "it finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
def test_ctrl_c_during_render_exits_130_without_a_traceback(tmp_path):
    (tmp_path / "book.abc").write_text("\n".join(TUNE.format(n=n) for n in range(1, 97)))
    out = tmp_path / "out"
    for attempt in range(3):   # the worker was interrupted 9 times in 10 before: every try must be clean
        shutil.rmtree(out, ignore_errors=True)
        run = interrupt(["render", "book.abc", "--to", "midi,svg", "-o", str(out)],
                        lambda proc: out.is_dir() and any(out.iterdir()), tmp_path)
        assert run.returncode == 130, run.stderr
        assert "Traceback" not in run.stderr and "KeyboardInterrupt" not in run.stderr, run.stderr
        assert run.stderr.rstrip().endswith("interrupted"), run.stderr
        assert not [n for n in files_in(out) if n.startswith(".")], "temporary files left behind"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
def test_ctrl_c_during_sample_valid_only_exits_130_without_a_traceback(tmp_path):
    waited = {}

    def worker_running(proc) -> bool:   # the render worker is up and has had time to import
        if children(proc.pid):
            waited.setdefault("since", time.monotonic())
        return "since" in waited and time.monotonic() - waited["since"] > 1.5

    # enough pieces that the work goes on well past the worker's start (compose judges only as many
    # pieces as it still needs, so 16 could be done before the key is pressed)
    run = interrupt(["sample", "folk", "-n", "64", "--valid-only", "--seed", "1", "-o", str(tmp_path / "out")],
                    worker_running, tmp_path)
    assert run.returncode == 130, run.stderr
    assert "Traceback" not in run.stderr and "KeyboardInterrupt" not in run.stderr, run.stderr
    assert run.stderr.rstrip().endswith("interrupted"), run.stderr


# ---- WAV after the MIDI failed -------------------------------------------------------------------

class Counting(Worker):
    """A worker that runs `job` for every request, and remembers what it was asked for."""

    def __init__(self, timeout: float, job):
        super().__init__(timeout, job=job)
        self.asked: list[str] = []

    def run(self, piece, fmt, out_dir, timeout=None):
        self.asked.append(fmt)
        return super().run(piece, fmt, out_dir, timeout)


def test_wav_does_not_render_the_midi_again_after_it_failed(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "wav_missing", lambda: None)     # WAV would be made here
    (tmp_path / "p.abc").write_text(TUNE.format(n=1))
    with Counting(3, hang) as worker:
        started = time.monotonic()
        (result,) = render.render([tmp_path / "p.abc"], ["wav", "midi"], tmp_path / "out", timeout=3,
                                  show_progress=False, worker=worker)
        seconds = time.monotonic() - started
    assert worker.asked == ["midi"], worker.asked          # one wait for the MIDI, not two
    assert result.errors == {"midi": "the renderer did not finish within 3 s",
                             "wav": "no MIDI to play (midi: the renderer did not finish within 3 s)"}
    assert seconds < 6 + 5, seconds
    with Counting(20, crash) as worker:   # WAV alone: its MIDI is made once, and its failure said so
        (result,) = render.render([tmp_path / "p.abc"], ["wav"], tmp_path / "out", show_progress=False,
                                  worker=worker)
    assert worker.asked == ["midi"]
    assert result.errors == {"wav": "no MIDI to play (midi: the renderer crashed (signal 11))"}
    assert files_in(tmp_path / "out") == []


# ---- Verovio's messages --------------------------------------------------------------------------

def test_verovio_messages_stay_out_of_the_terminal(tmp_path, capfd):
    for name, text in KERN_BAD.items():
        (tmp_path / name).write_text(text)
    results = render.render(sorted(tmp_path.glob("*.krn")), ["svg"], tmp_path / "out", show_progress=False)
    err = capfd.readouterr().err
    for raw in ("Error on line", "Expected 2 fields", "WARNING", "terminate called", "what():"):
        assert raw not in err, err
    by_name = {r.piece: r for r in results}
    assert by_name["fields"].errors["svg"] == "the renderer crashed (signal 6)"
    assert all("\n" not in reason for r in results for reason in r.errors.values())


# ---- a full disk, a read-only folder, a file in the way: no partial files, one-line errors ------

def on_a_full_disk(piece, fmt, out_dir):
    """Runs in the worker: the render job of `fmt`, with every file it writes ending on a full disk
    (what it wrote first is left, as a full disk leaves it, and then the write fails: ENOSPC)."""
    from music21 import base

    def full(path):
        Path(path).write_bytes(b"partial")
        with open("/dev/full", "wb") as disk:
            disk.write(b"x" * 65536)

    base.Music21Object.write = lambda self, fmt=None, fp=None, **keywords: full(fp)
    Path.write_text = lambda self, *args, **keywords: full(self)
    return (render._svg if fmt == "svg" else render._write)(piece, fmt, out_dir)


def killed_while_writing(piece, fmt, out_dir):
    """Runs in the worker: killed halfway through writing."""
    with render.written(out_dir / f"{piece.name}.mid") as tmp:
        tmp.write_bytes(b"MThd")
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_leaves_no_partial_files(tmp_path):
    (tmp_path / "p.abc").write_text(TUNE.format(n=1))
    out = tmp_path / "out"
    with Worker(60, job=on_a_full_disk) as worker:
        (result,) = render.render([tmp_path / "p.abc"], ["midi", "musicxml", "svg"], out, show_progress=False,
                                  worker=worker)
    assert result.errors == {"midi": f"cannot write {out}/p.mid: No space left on device",
                             "musicxml": f"cannot write {out}/p.musicxml: No space left on device",
                             "svg": f"cannot write {out}/p.svg: No space left on device"}
    assert files_in(out) == []
    with Worker(60, job=killed_while_writing) as worker:
        (result,) = render.render([tmp_path / "p.abc"], ["midi"], out, show_progress=False, worker=worker)
    assert result.errors == {"midi": "the renderer crashed (signal 9)"} and files_in(out) == []


def test_wav_that_fails_to_write_leaves_no_partial_file(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "fluidsynth"   # writes half a file where -F says, then fails as on a full disk
    fake.write_text('#!/bin/sh\nwhile [ "$1" != "-F" ]; do shift; done\nprintf partial > "$2"\n'
                    'echo "fluidsynth: error: No space left on device" >&2\nexit 1\n')
    fake.chmod(0o755)
    (tmp_path / "sound.sf2").write_bytes(b"RIFF")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("TUNESMITH_SOUNDFONT", str(tmp_path / "sound.sf2"))
    (tmp_path / "p.abc").write_text(TUNE.format(n=1))
    (result,) = render.render([tmp_path / "p.abc"], ["midi", "wav"], tmp_path / "out", show_progress=False)
    assert result.errors == {"wav": "FluidSynth failed (fluidsynth: error: No space left on device)"}
    assert files_in(tmp_path / "out") == ["p.mid"]


def test_a_file_in_the_way_is_one_line_naming_it(tmp_path, capsys):
    (tmp_path / "p.abc").write_text(TUNE.format(n=1))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "p.mid").mkdir()          # a folder where the MIDI file goes
    (result,) = render.render([tmp_path / "p.abc"], ["midi", "musicxml"], tmp_path / "out", show_progress=False)
    assert result.errors == {"midi": f"cannot write {tmp_path}/out/p.mid: Is a directory"}
    assert files_in(tmp_path / "out") == ["p.mid", "p.musicxml"]
    (tmp_path / "taken").write_text("a file")    # a file where the output folder goes
    assert cli.main(["render", str(tmp_path / "p.abc"), "-o", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: cannot write {tmp_path}/taken: it is a file, not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "p.abc").write_text(TUNE.format(n=1))
    out = tmp_path / "out"
    out.mkdir(mode=0o555)
    try:
        (result,) = render.render([tmp_path / "p.abc"], ["midi", "svg"], out, show_progress=False)
    finally:
        out.chmod(0o755)
    assert result.errors == {"midi": f"cannot write {out}/p.mid: Permission denied",
                             "svg": f"cannot write {out}/p.svg: Permission denied"}
    assert files_in(out) == []
