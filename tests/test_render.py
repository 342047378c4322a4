"""Rendering in an isolated worker: outputs for good pieces, a per-piece error for bad ones,
and a test process that never goes down."""

import os
import random
import signal
import time
from pathlib import Path

import pytest

from tunesmith import TunesmithError, cli, render

from conftest import shared

MALFORMED = 'X:1\nT:bad\nK:C\nzz]]][[[ |||| c4/0/0 "\n'


def crash(piece, fmt, out_dir):
    os.kill(os.getpid(), signal.SIGSEGV)


def hang(piece, fmt, out_dir):
    time.sleep(60)


def test_a_crash_or_a_hang_is_an_error_and_the_worker_comes_back(tmp_path):
    piece = render.Piece("p", "abc", text="X:1\nT:t\nM:4/4\nL:1/8\nK:C\nCDEF GABc|\n")
    with render.Worker(timeout=20, job=crash) as worker:
        ok, reason = worker.run(piece, "midi", tmp_path)
        assert not ok and reason == "the renderer crashed (signal 11)"
    with render.Worker(timeout=3, job=hang) as worker:
        ok, reason = worker.run(piece, "midi", tmp_path)
        assert not ok and reason == "the renderer did not finish within 3 s"
    with render.Worker(timeout=60) as worker:  # a fresh worker renders again
        ok, paths = worker.run(piece, "midi", tmp_path)
        assert ok and Path(paths[0]).stat().st_size > 0


def test_malformed_and_mutated_tunes_give_per_file_errors(tmp_path):
    good = "X:1\nT:good\nM:6/8\nL:1/8\nK:G\nGAB c2d|e3 d3|GAB c2d|B3 G3|]\n"
    rng = random.Random(0)
    mutants = {
        "malformed.abc": MALFORMED,
        "truncated.abc": good[:25],
        "bytes.abc": "X:1\nT:x\nK:C\n" + "".join(chr(rng.randrange(32, 127)) for _ in range(200)),
        "chords.abc": "X:1\nT:x\nL:1/8\nK:C\n[CEG [FA c2]] [[[ d|\n",
        "spines.krn": "**kern\t**kern\n*M4/4\t*M4/4\n4c\t4e\t4g\n=1\n4d\n*-\t*-\t*-\n",
        "good.abc": good,
    }
    for name, text in mutants.items():
        (tmp_path / name).write_text(text)
    results = render.render(sorted(tmp_path.glob("*.*")), ["midi", "svg"], tmp_path / "out", timeout=60,
                            show_progress=False)
    by_name = {r.piece: r for r in results}
    assert set(by_name) == {"malformed", "truncated", "bytes", "chords", "spines", "good"}
    assert set(by_name["good"].outputs) == {"midi", "svg"} and not by_name["good"].errors
    assert by_name["malformed"].errors and by_name["truncated"].errors
    for r in results:
        assert set(r.outputs) | set(r.errors) == {"midi", "svg"}, r
        assert all(reason for reason in r.errors.values())


def attacks(score):
    """Notes as MIDI plays them: tied notes once, grace notes too, chord symbols not at all."""
    from music21 import harmony

    total = 0
    for n in score.recurse().notes:
        if isinstance(n, harmony.ChordSymbol):
            continue
        for sub in (n.notes if n.isChord else [n]):
            tie = sub.tie or n.tie
            total += not (tie and tie.type in ("stop", "continue"))
    return total


def test_a_book_renders_tune_by_tune_and_a_mozart_movement_renders(tmp_path):
    from music21 import converter

    book = shared("nottingham-abc") / "xmas.abc"
    movement = shared("mozart-kern") / "sonata01-2.krn"
    audio = [] if render.wav_missing() else ["wav"]
    results = render.render([book, movement], ["midi", "musicxml", "svg"] + audio, tmp_path, show_progress=False)
    tunes = [r for r in results if r.piece.startswith("xmas-")]
    assert len(tunes) == 13
    assert all(not r.errors for r in tunes), [r.errors for r in tunes if r.errors]
    mozart = next(r for r in results if r.piece == "sonata01-2")
    assert not mozart.errors
    assert len(mozart.outputs["svg"]) >= 2  # one SVG per page

    # the MIDI plays every note once (the movement's repeat cannot be expanded, so it is played
    # once; quantising the MIDI may merge a grace note or two)
    written = converter.parse(str(mozart.outputs["midi"][0]))
    original = converter.parse(str(movement), format="humdrum")
    assert abs(attacks(written) - attacks(original)) <= 2
    # a tune's MIDI plays every note of the tune (more: repeats are played out, and music21
    # sounds the chord symbols as an accompaniment)
    tune_notes = attacks(render._score(render.pieces_of(book)[0]))
    tune_midi = attacks(converter.parse(str(tunes[0].outputs["midi"][0])))
    assert tune_midi >= tune_notes > 20

    # MusicXML and MIDI inputs render too
    again = render.render([tunes[0].outputs["musicxml"][0], tunes[0].outputs["midi"][0]], ["svg", "musicxml"],
                          tmp_path / "again", show_progress=False)
    assert all(not r.errors and r.outputs["svg"] for r in again), [r.errors for r in again]
    if audio:
        for r in (tunes[0], mozart):
            seconds, rms = _wav_stats(r.outputs["wav"][0])
            assert seconds > 5 and rms > 100, r.piece


def test_render_cli(tmp_path, capsys):
    (tmp_path / "t.abc").write_text("X:1\nT:t\nM:4/4\nL:1/8\nK:C\nCDEF GABc|\n")
    (tmp_path / "bad.abc").write_text(MALFORMED)
    assert cli.main(["-q", "render", str(tmp_path / "t.abc"), "--to", "midi", "-o", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "t.mid").exists()
    assert cli.main(["-q", "render", str(tmp_path / "bad.abc"), "--to", "midi,svg", "-o", str(tmp_path / "o")]) == 1
    assert cli.main(["render", str(tmp_path / "t.abc"), "--to", "pdf"]) == 2
    assert "--to takes" in capsys.readouterr().err
    with pytest.raises(TunesmithError, match="cannot tell the format"):
        render.pieces_of(tmp_path / "x.doc")
    (tmp_path / "book.abc").write_text("X:1\nT:a\nK:C\nC|\n\nX:1\nT:b\nK:C\nD|\n")
    assert [p.name for p in render.pieces_of(tmp_path / "book.abc")] == ["book-1", "book-1b"]


def _wav_stats(path):
    import wave

    import numpy as np

    with wave.open(str(path)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float)
        return w.getnframes() / w.getframerate(), float(np.sqrt((frames ** 2).mean()))


def test_wav_is_audible_and_as_long_as_the_music(tmp_path):
    if render.wav_missing():
        pytest.skip(render.wav_missing())
    tune = tmp_path / "eight.abc"
    tune.write_text("X:1\nT:eight\nM:4/4\nL:1/4\nQ:1/4=120\nK:C\nCDEF|GABc|]\n")  # 8 beats at 120: 4 s
    (result,) = render.render([tune], ["wav"], tmp_path / "out", show_progress=False)
    assert not result.errors, result.errors
    seconds, rms = _wav_stats(result.outputs["wav"][0])
    assert 4.0 <= seconds <= 8.0
    assert rms > 100  # not silence


def test_without_a_soundfont_wav_is_a_clear_error_and_the_rest_renders(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESMITH_SOUNDFONT", str(tmp_path / "missing.sf2"))
    tune = tmp_path / "t.abc"
    tune.write_text("X:1\nT:t\nM:4/4\nL:1/4\nK:C\nCDEF|GABc|]\n")
    (result,) = render.render([tune], ["midi", "wav"], tmp_path / "out", show_progress=False)
    assert "midi" in result.outputs
    assert "soundfont" in result.errors["wav"] or "FluidSynth" in result.errors["wav"]
