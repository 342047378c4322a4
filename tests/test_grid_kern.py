"""**kern out: grid pieces (chorales, quartets, sampled pieces) as Humdrum, read back to the same grid."""

from fractions import Fraction

import pytest

from tunesmith import render
from tunesmith.check import check
from tunesmith.notation import grid as g, grid_scores, parse_text
from tunesmith.notation.grid_kern import durations, key_sharps, pitch_token, to_kern


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))


def corpus_file(name):
    from music21 import corpus as m21corpus
    return m21corpus.getWork(name)


def test_kern_durations_pitches_and_keys():
    assert durations(Fraction(1)) == ["4"] and durations(Fraction(3, 2)) == ["4."]
    assert durations(Fraction(5, 2)) == ["2", "8"]                 # five eighths: a half tied to an eighth
    assert durations(Fraction(5, 4), Fraction(1, 4)) == ["4", "16"]
    assert durations(Fraction(2, 3), Fraction(1, 3)) == ["6"]      # triplets only where nothing plainer fits
    assert [pitch_token(m, False) for m in (60, 72, 59, 47, 61)] == ["c", "cc", "B", "BB", "c#"]
    assert pitch_token(70, True) == "b-"
    assert [key_sharps(k) for k in ("C", "D", "f#", "g#", "Bb", "bb", "d", None)] == [0, 2, 3, 5, -2, -5, -1, 0]


@pytest.mark.parametrize("work,grid", [("bwv66.6", "1/2"), ("bwv269", "1/2"), ("haydn/opus1no1/movement1", "1/4")])
def test_kern_reads_back_to_the_same_grid_and_passes_the_check(work, grid, tmp_path):
    piece = g.GridPiece.from_json(grid_scores.read_score_file(str(corpus_file(work)), grid, True)[0])
    text = to_kern(piece, "t")
    lines = text.splitlines()
    assert lines[1] == "\t".join(["**kern"] * 4) and lines[-1] == "\t".join(["*-"] * 4)
    assert lines[3].split("\t")[0] in ('*I"Bass', '*I"Cello', '*I"Violoncello')     # the lowest part on the left
    back = grid_scores.from_score(parse_text(text, "humdrum"), "t", grid, True)
    assert back.steps == piece.steps
    assert (back.meter, back.pickup, back.fermatas) == (piece.meter, piece.pickup, piece.fermatas)
    path = tmp_path / "t.krn"
    path.write_text(text)
    report = check([str(path)], show_progress=False)[0]
    assert report.valid, report.reasons


def test_render_writes_kern_for_a_score_and_refuses_chords(tmp_path):
    from music21 import chord, stream

    out = tmp_path / "out"
    out.mkdir()
    done = render.render([corpus_file("bwv66.6")], ["kern"], out, show_progress=False)
    assert not done[0].errors and done[0].outputs["kern"][0].suffix == ".krn"
    assert check([str(done[0].outputs["kern"][0])], show_progress=False)[0].valid
    part = stream.Part()
    part.append(chord.Chord(["C4", "E4", "G4"], quarterLength=4))
    chords = tmp_path / "chords.musicxml"
    stream.Score([part]).write("musicxml", fp=str(chords))
    failed = render.render([chords], ["kern"], out, show_progress=False)
    assert "chords" in failed[0].errors["kern"]


@pytest.mark.parametrize("work,grid", [("bwv66.6", "1/2"), ("haydn/opus1no1/movement1", "1/4")])
def test_musicxml_written_directly_reads_back_with_its_instruments(work, grid, tmp_path):
    from tunesmith.notation.grid_xml import to_musicxml, writes

    piece = g.GridPiece.from_json(grid_scores.read_score_file(str(corpus_file(work)), grid, True)[0])
    assert writes(piece) and not writes(g.GridPiece("t", "1/3", [[60]], ["Soprano"]))
    text = to_musicxml(piece, "t & u")
    score = parse_text(text, "musicxml")
    back = grid_scores.from_score(score, "t", grid, True)
    assert back.steps == piece.steps and back.voices == piece.voices
    assert (back.meter, back.key, back.pickup, back.fermatas) == (piece.meter, piece.key, piece.pickup, piece.fermatas)
    programs = [i.midiProgram for p in score.parts for i in p.recurse().getElementsByClass("Instrument")][:4]
    assert programs == ([53] * 4 if "bwv" in work else [40, 40, 41, 42])     # voices; violins, viola, cello
    path = tmp_path / "t.musicxml"
    path.write_text(text)
    assert check([str(path)], show_progress=False)[0].valid
