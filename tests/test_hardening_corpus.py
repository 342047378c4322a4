"""Issue 18 (hardening): corpora with odd files are read, each thing left out with one reason, and
nothing hangs; the copy guard's index has a time bound; a tune with no L: and no M: is valid."""

import os
import signal
import time
from pathlib import Path

import pytest

from tunesmith import cli, corpus, log
from tunesmith.notation import abc, pool, scores

TUNE = "X:1\nT:Good\nM:4/4\nL:1/8\nK:G\nGABc dedB|A2FA dAFA|\n"


@pytest.fixture(autouse=True)
def bounded(tmp_path, monkeypatch):
    """Nothing here may hang: a test that takes over two minutes fails; a private parse cache."""
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))

    def stuck(signum, frame):
        raise TimeoutError("the test hung")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def hostile_folder(folder: Path) -> Path:
    folder.mkdir()
    (folder / "good.abc").write_text(TUNE)
    fd = os.open(os.fsencode(folder) + b"/\xff-latin.abc", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, TUNE.replace("Good", "Bad name").encode())
    os.close(fd)
    (folder / "folder.abc").mkdir()
    (folder / "dangling.abc").symlink_to(folder / "nowhere.abc")
    (folder / "loop.abc").symlink_to(folder / "loop.abc")
    (folder / "zero.abc").symlink_to("/dev/zero")
    os.mkfifo(folder / "fifo.abc")
    (folder / "up").symlink_to(folder)   # a link back up: must not be walked into
    return folder


def test_odd_entries_each_get_one_reason_and_nothing_is_read_from_a_device(tmp_path):
    folder = hostile_folder(tmp_path / "c")
    started = time.monotonic()
    loaded = corpus.load(str(folder), show_progress=False)
    assert time.monotonic() - started < 30
    assert [p.name.split("#")[0] for p in loaded.pieces] == [str(folder / "good.abc")]
    reasons = dict(loaded.skipped)
    assert reasons == {
        f"{folder}/\\xff-latin.abc": "the file name is not valid UTF-8",
        f"{folder}/folder.abc": "a folder, not a file",
        f"{folder}/dangling.abc": "a dangling link",
        f"{folder}/loop.abc": "a link loop",
        f"{folder}/zero.abc": "not a regular file (a device)",
        f"{folder}/fifo.abc": "not a regular file (a FIFO)",
    }
    # every name written anywhere is valid UTF-8
    assert all(where.encode("utf-8") for where, _ in loaded.skipped)
    assert all(f.encode("utf-8") for f in loaded.files)


def test_a_glob_and_a_single_odd_file_say_why(tmp_path):
    folder = hostile_folder(tmp_path / "c")
    loaded = corpus.load(str(folder / "*.abc"), show_progress=False)
    assert len(loaded.pieces) == 1 and dict(loaded.skipped)[f"{folder}/zero.abc"] == "not a regular file (a device)"
    for name, reason in [("zero.abc", "a device"), ("fifo.abc", "a FIFO"), ("dangling.abc", "a dangling link")]:
        with pytest.raises(corpus.TunesmithError, match=reason):
            corpus.load(str(folder / name), show_progress=False)


def test_training_on_a_folder_with_a_non_utf8_file_name_does_not_crash(tmp_path, capsys):
    folder = hostile_folder(tmp_path / "c")
    for i in range(5):
        (folder / f"more-{i}.abc").write_text(TUNE.replace("X:1", f"X:{i + 2}").replace("GABc", "GAB" + "cdefg"[i]))
    run = tmp_path / "run"
    code = cli.main(["-q", "train", "--corpus", str(folder), "--out", str(run), "--steps", "2", "--layers", "1",
                     "--hidden", "16", "--embed", "8", "--batch-size", "2", "--seq-len", "16", "--eval-every", "2",
                     "--preview-length", "5", "--no-copy-index"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err
    assert (run / "run.json").read_text(encoding="utf-8")


def test_write_skipped_keeps_every_reason_and_report_points_to_it(tmp_path, capsys):
    many = corpus.Corpus("c", "abc", [], [(f"f{i}.abc\tx", f"reason {i}") for i in range(70)]
                         + [("odd-\udcff.abc", "the file name is not valid UTF-8")])
    saved = corpus.write_skipped(many, tmp_path)
    assert saved == tmp_path / "skipped.tsv"
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "where\treason" and len(lines) == 72
    assert lines[1] == "f0.abc\\tx\treason 0"            # a tab in a name cannot break the columns
    assert lines[-1] == "odd-\\xff.abc\tthe file name is not valid UTF-8"   # the byte, escaped
    assert not [p for p in tmp_path.iterdir() if p.name != "skipped.tsv"]   # no temporary left
    log.set_quiet(False)
    corpus.report(many, saved)
    err = capsys.readouterr().err
    assert err.count("skipped f") == 50
    assert f"... and 21 more skipped (all reasons in {saved})" in err
    corpus.report(many)
    assert "... and 21 more skipped\n" in capsys.readouterr().err
    assert corpus.write_skipped(corpus.Corpus("c", "abc", [], []), tmp_path / "none") is None
    assert not (tmp_path / "none").exists()
    # exact duplicates dropped are listed too, with the piece they repeat
    (tmp_path / "book.abc").write_text(TUNE + "\n" + TUNE.replace("X:1", "X:2"))
    loaded = corpus.load(str(tmp_path / "book.abc"), show_progress=False)
    assert loaded.duplicates == 1 and loaded.skipped == []
    rows = corpus.write_skipped(loaded, tmp_path / "dup").read_text(encoding="utf-8").splitlines()
    assert rows[1] == f"{tmp_path}/book.abc#X2 Good\tan exact duplicate of {tmp_path}/book.abc#X1 Good"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_utf16_and_bom_text_decodes(encoding):
    data = ("\ufeff" if encoding in ("utf-16-le", "utf-16-be") else "") + TUNE.replace("Good", "Gûd")
    assert abc.decode(data.encode(encoding), refuse_binary=True) == TUNE.replace("Good", "Gûd")
    with pytest.raises(ValueError, match="binary data, not a text file"):
        abc.decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", refuse_binary=True)
    assert abc.decode("X:1\nK:C\nC\n".encode("latin-1")) == "X:1\nK:C\nC\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_a_utf16_book_is_a_corpus(tmp_path, encoding):
    data = TUNE if encoding != "utf-16-be" else "\ufeff" + TUNE
    (tmp_path / "book.abc").write_bytes(data.encode(encoding))
    loaded = corpus.load(str(tmp_path / "book.abc"), show_progress=False)
    assert loaded.skipped == [] and [p.text for p in loaded.pieces] == [abc.normalise_tune(TUNE.splitlines())]


def test_default_length_is_written_for_music21():
    assert abc.with_default_length("X:1\nT:\nK:C\nCDEF|\n") == "X:1\nT:\nL:1/8\nK:C\nCDEF|\n"
    assert abc.with_default_length("X:1\nM:2/4\nK:C\nCDEF|\n") == "X:1\nM:2/4\nL:1/16\nK:C\nCDEF|\n"
    kept = "X:1\nL:1/4\nK:C\nCDEF|\n"
    assert abc.with_default_length(kept) == kept
    assert abc.with_default_length("L:1/4\n\nX:1\nK:C\nC|\n") == "L:1/4\n\nX:1\nK:C\nC|\n"


def test_check_accepts_a_tune_with_no_length_and_no_meter():
    """Needs ABC text handed to music21 through `abc.with_default_length` (render.score_of)."""
    from tunesmith import check

    report, = check.check_texts(["X:1\nT:\nK:C\nCDEF|\n"], ".abc")
    assert report.valid, report.reasons


# ---- the copy guard's index ----------------------------------------------------------------------

def test_pool_limits_each_job_and_survives_a_stuck_worker(monkeypatch):
    # in this process (few jobs): the alarm stops a job past its limit
    got = {i: (r, e) for i, r, e in pool.run(time.sleep, [(0,), (5,)], [1.0, 0.3])}
    assert got[0] == (None, None) and got[1] == (None, "took over 0.3 s")
    # in worker processes: a job in C code that ignores the alarm is killed, the others finish
    monkeypatch.setattr(pool, "GRACE", 2.0)
    started = time.monotonic()
    jobs = [("sleep 6",)] + [("true",)] * 5
    got = {i: (r, e) for i, r, e in pool.run(os.system, jobs, [0.5] * 6, workers=2)}
    assert time.monotonic() - started < 30
    assert sorted(got) == list(range(6))
    assert all(got[i] == (0, None) for i in range(1, 6))
    assert got[0][1] in ("took over 0.5 s", pool.CRASHED)


def test_the_index_reads_a_book_tune_by_tune_with_a_time_limit(tmp_path, capsys):
    book = tmp_path / "book.abc"
    tunes = [TUNE.replace("X:1", f"X:{i}").replace("GABc", "GAB" + "cdefgab"[i % 7]) for i in range(1, 6)]
    book.write_text("\n".join(tunes) + "\nX:9\nT:Broken\nK:C\n(((|\n")
    melodies, skipped = scores.read_melodies([book], show_progress=False, cache=False)
    names = [name for name, _ in melodies[str(book)]]
    assert names == [f"{book}#X{i} Good" for i in range(1, 6)]
    assert skipped == []
    # the same parts as the whole-file reader gives
    whole = scores.parse_file(str(book), scores.ReaderSettings("melody"))
    assert [(p.name, p.melody()) for p in whole] == melodies[str(book)]
    # a limit no tune can meet: every tune is named as left out, in one line each, and the call returns
    log.set_quiet(False)
    melodies, skipped = scores.read_melodies([book], show_progress=False, cache=False, seconds=1e-6)
    assert melodies == {}
    left = sorted(where for where, why in skipped if why == "took over 1e-06 s to read")
    assert left == sorted([f"{book}#X{i} Good" for i in range(1, 6)] + [f"{book}#X9 Broken"])
    assert len(skipped) == 6
    assert capsys.readouterr().err.count("left out of the copy guard's index") == 6
