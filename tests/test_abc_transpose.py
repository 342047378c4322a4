"""ABC tunes moved to other keys for `--augment` on the character codec: every note moves by exactly
the interval asked, and nothing but notes, keys and chord symbols changes."""

import random
import warnings
from pathlib import Path

import pytest

from tunesmith import TunesmithError
from tunesmith.codecs.base import SHIFTS, CodecOptions, Piece
from tunesmith.codecs.chars import CharCodec, read_file
from tunesmith.notation.abc_transpose import transpose

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nottingham-abc"

TUNE = ('X:1\nT:Test in F\nR:jig\nM:6/8\nL:1/8\nK:F\n'
        '"F"=B,c^c "Bb7/d"_B2A|"C"c\'d2 [K:Dm]"Dm"f,e^e|\n% a comment with ABC in it\n'
        'P:B\n"^ad lib"g2g {ag}f3-|"G/b"!trill!f3 z3|]\n')


def midi_pitches(text):
    from music21 import converter, harmony
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = converter.parse(text, format="abc")
    return [p.midi for n in score.recurse().notes if not isinstance(n, harmony.ChordSymbol) for p in n.pitches]


def test_a_tone_up_spells_each_note_as_its_new_key_needs():
    moved = transpose(TUNE, 2)
    # F → G; B natural in F (=B,) is C sharp in G; the second key change and chord symbols move too
    assert moved.splitlines()[5] == "K:G"
    assert moved.splitlines()[6] == '"G"^Cd^d "C7/e"=c2B|"D"d\'e2 [K:Em]"Em"Gf^^f|'
    # comments, part labels, annotations, grace notes, decorations and rests
    assert moved.splitlines()[7:] == ["% a comment with ABC in it", "P:B", '"^ad lib"a2a {ba}g3-|"A/c#"!trill!g3 z3|]']
    # a chord in parentheses (one to play or leave out) moves too
    assert transpose('X:1\nT:t\nK:G\n"(D7)"ABc|\n', 2).splitlines()[3] == '"(E7)"Bcd|'
    # the header but for K: is as it was (the title names a key, and stays)
    assert moved.splitlines()[:5] == TUNE.splitlines()[:5]


def test_keys_take_the_spelling_with_fewest_accidentals():
    keys = {s: transpose("X:1\nT:t\nK:G\nGABc|\n", s).splitlines()[2] for s in (1, -1, 2, -2, 3, 5)}
    assert keys == {1: "K:Ab", -1: "K:F#", 2: "K:A", -2: "K:F", 3: "K:Bb", 5: "K:C"}
    assert transpose("X:1\nT:t\nK:Ador\n|:eAAB cBcd|\n", 2).splitlines()[2:4] == ["K:Bdor", "|:fBBc dcde|"]
    assert transpose("X:1\nT:t\nK:Em\nEFGA|\n", -2).splitlines()[2] == "K:Dm"


@pytest.mark.parametrize("shift", SHIFTS)
def test_every_note_moves_by_the_interval(shift):
    assert [p + shift for p in midi_pitches(TUNE)] == midi_pitches(transpose(TUNE, shift))


def test_a_tune_that_cannot_move_exactly_is_none():
    assert transpose("X:1\nT:t\nK:none\nABc|\n", 2) is None
    assert transpose("X:1\nT:t\nK:F\n^^B|\n", 1) is None          # B double sharp up a semitone in F#
    assert transpose("X:1\nT:t\nABc|\n", 2) is None               # no K:


def test_augment_adds_copies_that_train_but_keep_the_corpus_keys_for_sampling():
    pieces = [Piece("t", TUNE, "abc"), Piece("n", "X:1\nT:t\nM:4/4\nK:none\nABcd|\n", "abc")]
    copies = CharCodec.augment(pieces, 2)
    assert [p.name for p in copies] == ["t@+1", "t@-1"]          # K:none cannot move: no copy
    assert [p.meta["augmented"] for p in copies] == [1, -1]
    codec = CharCodec.fit(pieces + copies, CodecOptions(unk_min_count=1))
    assert set(codec.known["key"]) == {"F", "none"}              # not F# or E, which only copies have
    assert "#" in codec.chars                                     # but the copies' symbols are learned
    with pytest.raises(TunesmithError, match="between 0 and 11"):
        CharCodec.augment(pieces, 12)
    with pytest.raises(TunesmithError, match="not \\*\\*kern"):
        CharCodec.augment([Piece("k", "**kern\n4c\n*-\n", "kern")], 1)


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/nottingham-abc is absent")
def test_nottingham_tunes_move_note_for_note():
    pieces = [p for f in sorted(DATA.glob("*.abc")) for p in read_file(f, "abc")[0]]
    chosen = random.Random(3).sample(pieces, 12)
    copies = CharCodec.augment(chosen, 4)
    assert len(copies) >= 40
    by_name = {p.name: p for p in chosen}
    for copy in copies[::2]:
        original = by_name[copy.name.rsplit("@", 1)[0]]
        assert [p + copy.meta["augmented"] for p in midi_pitches(original.text)] == midi_pitches(copy.text), copy.name
