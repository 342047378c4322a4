"""ABC tunes read in one unit note length (`--unit-length`, notation/abc_units.py): every note keeps
its length exactly, and nothing without a length changes."""

import random
import warnings
from pathlib import Path

import pytest

from tunesmith import TunesmithError, settings
from tunesmith.codecs import tunes
from tunesmith.codecs.abc_symbols import LENGTHS
from tunesmith.codecs.base import CodecOptions
from tunesmith.codecs.chars import CharCodec, read_file
from tunesmith.notation import abc
from tunesmith.notation.abc_music21 import for_music21
from tunesmith.notation.abc_units import to_unit, unit_at_end

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nottingham-abc"

TUNE = ('X:1\nT:In quarters\nM:6/8\nL:1/4\nK:D\n'
        '|:(3A/2B/2c/2 [C/E/]2 "Am"d/ z/|1 A3/2 {g}A/4B/4 c/>d/:|2 !trill!A3/2 z3/2||\n'
        'L:1/8\nA2B [L:1/16]c4 d2|]\n')


def durations(text):
    """Each note's and rest's (pitches, length in quarters) as music21 reads the tune."""
    from music21 import converter, note
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = converter.parse(for_music21(text), format="abc")
    return [(tuple(p.midi for p in n.pitches) if not isinstance(n, note.Rest) else (), n.duration.quarterLength)
            for n in score.recurse().notesAndRests if not n.duration.isGrace and type(n).__name__ != "ChordSymbol"]


def test_every_length_is_rewritten_and_nothing_else():
    moved = to_unit(TUNE, "1/8")
    assert moved.split("\n")[:5] == ["X:1", "T:In quarters", "M:6/8", "L:1/8", "K:D"]
    # tuplet marks, chord multipliers, chord symbols, rests, ending numbers, grace notes (no time),
    # broken rhythm and decorations as they were; the body's own units read and dropped
    assert moved.split("\n")[5] == '|:(3ABc [CE]2 "Am"d z|1 A3 {g}A/2B/2 c>d:|2 !trill!A3 z3||'
    assert moved.split("\n")[6] == "A2B c2 d|]"
    assert unit_at_end(TUNE) == "1/16" and unit_at_end(moved) == "1/8"


@pytest.mark.parametrize("unit", ["1/8", "1/4", "1/16"])
def test_every_note_keeps_its_length(unit):
    assert durations(to_unit(TUNE, unit)) == durations(TUNE)


def test_a_tune_without_L_is_read_in_the_standards_default():
    # no L: under 2/4 is 1/16: A2 is an eighth, which is A in L:1/8
    assert to_unit("X:1\nM:2/4\nK:G\nA2B2 c4|\n", "1/8").split("\n")[2:] == ["L:1/8", "K:G", "AB c2|", ""]


def test_a_length_the_unit_cannot_write_leaves_the_tune_as_it_is():
    assert to_unit("X:1\nL:1/4\nK:G\nA10|\n", "1/8", LENGTHS) is None      # A20 is no length the grammar reads
    assert to_unit("X:1\nL:1/4\nK:G\nA10|\n", "1/8") is not None
    assert to_unit("X:1\nL:1/4\nABc|\n", "1/8") is None                   # no K:
    assert to_unit("X:1\nL:1/4\nK:G\nA/0B0|\n", "1/8") is None             # no length at all
    with pytest.raises(ValueError):
        to_unit(TUNE, "an eighth")


def test_reading_writes_every_tune_in_the_unit_and_the_codec_keeps_it(tmp_path):
    path = tmp_path / "book.abc"
    path.write_text(TUNE + "\nX:2\nT:Eighths\nM:4/4\nK:G\nG2AB c4|]\n")
    pieces, _ = read_file(path, "abc", unit="1/8")
    assert [p.text.split("\n")[3] for p in pieces] == ["L:1/8", "L:1/8"]
    codec = CharCodec.fit(pieces, CodecOptions(unit_length="1/8"))
    again = CharCodec.from_json(codec.to_json())
    assert again.unit_length == "1/8" and again.reading().unit_length == "1/8"
    as_written = CharCodec.fit(read_file(path, "abc")[0], CodecOptions(unit_length="as-written"))
    assert as_written.unit_length == "" and "unit_length" not in as_written.to_json()
    assert as_written.reading().unit_length == "as-written"
    # a primer is brought into the unit too, a header without K: by its L: line
    assert codec.prepare_primer("X:1\nL:1/4\nK:G\nA/2B/2c") == "X:1\nL:1/8\nK:G\nABc2"
    assert codec.prepare_primer("X:1\nM:4/4\nL:1/4") == "X:1\nM:4/4\nL:1/8"
    with pytest.raises(TunesmithError, match="unit_length"):
        CharCodec.from_json({**codec.to_json(), "unit_length": "1/5"})
    with pytest.raises(TunesmithError, match="--unit-length takes 1/4, 1/8, 1/16 or as-written"):
        settings.check(CodecOptions(unit_length="1/5"))


def test_evaluate_counts_the_characters_as_the_books_write_them_too(tmp_path, capsys):
    """Read in one unit a book in L:1/4 has fewer characters (A/2B/2 is AB): `evaluate` gives the same
    bits per character of the book as written beside the figure per character as read."""
    import json
    from tunesmith import cli
    from tunesmith.evaluate.likelihood import evaluate

    book = tmp_path / "book.abc"
    book.write_text("".join(f"X:{i}\nT:T{i}\nM:2/4\nL:1/4\nK:G\nA/2B/2c/2d/2|e/2d/2B|]\n\n" for i in range(1, 9)))
    run = tmp_path / "run"
    assert cli.main(["-q", "train", "--corpus", str(book), "--out", str(run), "--steps", "2", "--layers", "1",
                     "--hidden", "8", "--embed", "4", "--valid-fraction", "0.25", "--no-copy-index"]) == 0
    result = evaluate(str(run), [str(book)], show_progress=False)
    read, _ = read_file(book, "abc", unit="1/8")
    written, _ = read_file(book, "abc")
    assert result.units == sum(len(p.text) for p in read) < result.written == sum(len(p.text) for p in written)
    assert result.bits_per_written_unit == pytest.approx(result.bits_per_unit * result.units / result.written)
    assert result.rewriting == "ABC lengths in L:1/8"
    capsys.readouterr()
    assert cli.main(["-q", "evaluate", str(run), "--data", str(book)]) == 0
    assert (f"{result.bits_per_unit:.4f} bits per character as read (ABC lengths in L:1/8), "
            f"{result.bits_per_written_unit:.4f} per character as the files write them") in capsys.readouterr().out
    assert cli.main(["-q", "evaluate", str(run), "--data", str(book), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["characters_as_written"] == result.written and data["read_with"] == "ABC lengths in L:1/8"
    # a model that reads tunes as written has one figure
    run2 = tmp_path / "run2"
    assert cli.main(["-q", "train", "--corpus", str(book), "--out", str(run2), "--steps", "2", "--layers", "1",
                     "--hidden", "8", "--embed", "4", "--valid-fraction", "0.25", "--no-copy-index",
                     "--unit-length", "as-written"]) == 0
    plain = evaluate(str(run2), [str(book)], show_progress=False)
    assert plain.written is None and plain.units == result.written


@pytest.mark.parametrize("primer, added, unit, expected", [
    ("X:1\nL:1/8\nK:G\nA2B2 ", "c2d2|e4|", "1/4", "cd|e2|"),
    ("X:1\nL:1/8\nK:G\nA2", "Bc|", "1/4", "B/2c/2|"),        # the last note kept as the person wrote it
    ("X:1\nL:1/8\nK:G\nA2", "/B", "1/4", "/2B/2"),          # lengthened: A2/ is A/2, which A begins
    ("X:1\nL:1/8\nK:G\nA4", "/B", "1/4", "B/2"),            # A4/ is A, which A2 does not begin: left out
])
def test_a_continuation_is_written_back_in_the_persons_unit(primer, added, unit, expected):
    assert tunes.in_own_unit(primer, added, unit) == expected


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/nottingham-abc is absent")
def test_nottingham_tunes_keep_every_length_in_one_unit():
    pieces = [p for f in sorted(DATA.glob("*.abc")) for p in read_file(f, "abc")[0]]
    moved = [to_unit(p.text, "1/8", LENGTHS) for p in pieces]
    assert sum(m is None for m in moved) == 0
    for piece, text in random.Random(3).sample(list(zip(pieces, moved)), 40):
        assert durations(text) == durations(piece.text), piece.name


def test_a_run_saved_before_the_option_reads_as_written():
    from tunesmith.train.config import TrainConfig
    old = TrainConfig.saved({"corpus": ["tunes.abc"], "out": "runs/old"})
    assert old.unit_length == "as-written" and "--unit-length as-written" in old.command()
    assert TrainConfig.saved({"corpus": ["tunes.abc"], "out": "r", "unit_length": "1/8"}).unit_length == "1/8"
