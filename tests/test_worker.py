"""The worker's job registry: jobs run by name in one isolated process, whichever module registered them."""

import subprocess
import sys
from pathlib import Path

import pytest

from tunesmith import check, formats, render, worker
from tunesmith.web import primer

TUNE = "X:1\nT:t\nM:4/4\nL:1/8\nK:C\nCDEF GABc|c2B2 A2G2|\n"


@worker.register_job("test-echo")
def echo(piece, arg, out_dir):
    return {"piece": piece, "arg": arg, "out_dir": str(out_dir)}


def test_a_registered_job_runs_by_name(tmp_path):
    assert worker.JOBS["test-echo"] == "test_worker:echo"
    with worker.Worker(timeout=30) as w:
        assert w.run("p", "test-echo", tmp_path) == (True, {"piece": "p", "arg": "test-echo",
                                                            "out_dir": str(tmp_path)})
        assert w.call("test-echo", "q", 7, tmp_path) == (True, {"piece": "q", "arg": 7, "out_dir": str(tmp_path)})
        ok, reason = w.run("p", "no-such-job", tmp_path)
        assert not ok and "no worker job named 'no-such-job'" in reason
    with worker.Worker(timeout=30, job="test-echo") as w:   # one job for every request: run's argument is its own
        assert w.run("p", "melody", tmp_path)[1]["arg"] == "melody"
    with pytest.raises(ValueError):
        worker.Worker(job=lambda piece, arg, out_dir: None)


def test_render_check_and_primer_jobs_share_one_worker(tmp_path):
    assert {"midi", "musicxml", "svg", "check", "read_part"} <= set(worker.JOBS)
    assert render.Worker is worker.Worker
    piece = render.Piece("t", "abc", text=TUNE)
    with render.Worker(timeout=60) as w:
        ok, paths = w.run(piece, "midi", tmp_path)
        assert ok and Path(paths[0]).stat().st_size > 0
        pid = w._proc.pid
        ok, figures = w.run(piece, "check", tmp_path)
        assert ok and figures["notes"] == 12 and figures["bars_too_long"] == 0
        ok, part = w.call("read_part", render.Piece("t", "file", path=paths[0]), "melody", tmp_path)
        assert ok and len(part["events"]) == 12
        (tmp_path / "t.abc").write_text(TUNE)
        (report,) = check.check([tmp_path / "t.abc"], show_progress=False, worker=w)
        assert report.valid and report.notes == 12
        (result,) = render.render([tmp_path / "t.abc"], ["svg"], tmp_path / "out", show_progress=False, worker=w)
        assert not result.errors and result.outputs["svg"]
        assert w._proc.pid == pid   # no job needed a fresh process
    with render.Worker(timeout=60, job=primer.read_part) as w:   # a function as the job, as the web app does
        ok, part = w.run(render.Piece("t", "file", path=paths[0]), "melody", tmp_path)
        assert ok and len(part["events"]) == 12


def test_render_does_not_import_check_and_one_format_map():
    code = "import sys, tunesmith.render; assert 'tunesmith.check' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert formats.format_of("a/B.MXL") == "musicxml" and formats.format_of("x.kern") == "kern"
    assert formats.format_of("x.txt") is None and formats.is_binary("x.midi") and not formats.is_binary("x.xml")
