from tunesmith import corpus
from tunesmith.notation import abc
from tunesmith.notation.abc_music21 import for_music21

from conftest import TUNES


def test_book_splits_into_normalised_tunes_and_skips_tunes_without_key():
    pieces, skipped = abc.read_book(TUNES, "book.abc")
    assert [name for name, _ in pieces] == ["book.abc#X1 First Tune", "book.abc#X2 No Length Field",
                                            "book.abc#X4 First Tune"]
    assert skipped == [("book.abc#X3 Missing Key", "no K: (key) field")]
    first = pieces[0][1]
    assert first == 'X:1\nT:First Tune\nM:6/8\nL:1/8\nK:G\n"G"GAB c2d|e3 d3:|\n'   # S: (a source) is left out


def test_default_unit_length_follows_the_standard_and_free_text_is_dropped():
    pieces, _ = abc.read_book(TUNES, "book.abc")
    second = pieces[1][1]
    assert "L:1/16" in second  # 2/4 is below 3/4
    assert "free text" not in second
    assert second.endswith("A2 B2|c4|]\n")


def test_file_header_fields_are_inherited():
    pieces, _ = abc.read_book("M:3/4\nL:1/4\n\nX:7\nT:t\nK:C\nCDE|\n", "b")
    assert pieces[0][1] == "X:1\nT:t\nM:3/4\nL:1/4\nK:C\nCDE|\n"


def test_an_empty_header_field_is_left_out():
    # O'Neill's writes `R:` with no tune type for a few airs: it says nothing (and no grammar takes it)
    pieces, _ = abc.read_book("X:1\nT:t\nR:\nQ: \nM:3/4\nK:C\nCDE|\n", "b")
    assert pieces[0][1] == "X:1\nT:t\nM:3/4\nL:1/8\nK:C\nCDE|\n"


def test_a_meter_line_right_after_the_key_is_the_headers():
    # Nottingham's "Fram Apon Him" writes K: before M:; the meter line belongs to the header, and the
    # unit length follows it. A meter line after the first music stays in the body
    pieces, _ = abc.read_book("X:1\nT:t\nK:D\nM:6/8\nP:A\nA|F2A d2e:|\nM:9/8\nF2A d2e fed|\n", "b")
    assert pieces[0][1] == "X:1\nT:t\nM:6/8\nL:1/8\nK:D\nP:A\nA|F2A d2e:|\nM:9/8\nF2A d2e fed|\n"
    pieces, _ = abc.read_book("X:1\nT:t\nM:6/8\nK:D\nM:3/4\nA|F2A d2:|\n", "b")      # the header has one
    assert "K:D\nM:3/4\n" in pieces[0][1]


def test_latin1_books_decode_and_duplicates_are_dropped(tmp_path):
    (tmp_path / "latin.abc").write_bytes("X:1\nT:Caf\xe9 Reel\nM:4/4\nK:D\nABcd|\n".encode("latin-1"))
    (tmp_path / "book.abc").write_text(TUNES, encoding="utf-8")
    loaded = corpus.load(str(tmp_path))
    titles = [p.text.split("\n")[1] for p in loaded.pieces]
    assert "T:Café Reel" in titles
    assert loaded.duplicates == 1
    assert len(loaded.pieces) == 3
    assert all("%" not in p.text for p in loaded.pieces)


def test_primer_is_brought_into_training_shape():
    assert abc.prepare_primer("X: 80\n") == "X:1\n"
    assert abc.prepare_primer("M: 6/8\nK:D\n") == "X:1\nM:6/8\nK:D\n"
    assert abc.prepare_primer("") == ""


def test_finish_numbers_titles_and_orders_headers():
    tune = abc.finish("X:1\nK:D\nM:6/8\nabc|\n", 7, "tunesmith 7")
    assert tune.startswith("X:7\nT:tunesmith 7\n")
    assert "L:1/8\nK:D\n" in tune
    # without K: the raw text is kept (the validity check will say why), but numbered
    assert abc.finish("X:1\nT:x\nabc", 3, "t").startswith("X:3\n")


def test_body_meters_are_handed_to_music21_where_it_applies_them():
    head = "X:1\nT:t\nM:4/4\nL:1/8\nK:G\n"
    # an M: line moves to the bar line that ends the first bar in its meter (past an opening |: and
    # the quotes, decorations and tuplet ratios on the way); an inline L: becomes a line where it stands
    text = head + 'GABc dcBA|d8|\nM:3/4\n|:"A:m"!p!(3:2:3ABc d2 [L:1/4]e2::ABc d2 e:|\n'
    assert for_music21(text) == head + 'GABc dcBA|d8|\n|:"A:m"!p!(3:2:3ABc d2 \nL:1/4\ne2\nM:3/4\n::ABc d2 e:|\n'
    assert for_music21(head + "GA|[M:3/4]ABc|]\n") == head + "GA|\nABc\nM:3/4\n|]\n"
    # of two meters before a bar, the last holds
    assert for_music21(head + "GA|\nM:9/8\nM:3/4\nK:D\nABc|]\n") == head + "GA|\nK:D\nABc\nM:3/4\n|]\n"
    # an ending's number and a chord symbol are no music: the first bar in the meter is the one with notes
    # (before, music21 gave the 2/4 to the first ending's bar of 4/4, which then read as too long)
    assert (for_music21(head + '|:d8|[1d8:|\nM:2/4\n[2"A"[|gece|A4|]\n')
            == head + '|:d8|[1d8:|\n[2"A"[|gece\nM:2/4\n|A4|]\n')
    # no bar line after it: it stays; nothing else changes, and no line is left blank (it would end the tune)
    assert for_music21(head + "GA|\nM:3/4\nABc\n") == head + "GA|\nM:3/4\nABc\n"
    assert for_music21(TUNES[0]) == TUNES[0]
    book = head + "GA|\nM:3/4\nABc|\n\n" + head.replace("X:1", "X:2") + "M:2/4\nAB|\n"
    assert for_music21(book).split("\n\n") == [head + "GA|\nABc\nM:3/4\n|", head.replace("X:1", "X:2") + "AB\nM:2/4\n|\n"]
