import pytest

from tunesmith import TunesmithError, corpus

from conftest import shared


def test_named_corpora_resolve_in_music21():
    for name, fmt in [("oneills", "abc"), ("ryans", "abc"), ("essen", "abc"), ("airds", "abc"),
                      ("palestrina", "kern"), ("chorales", "events")]:
        _, found_fmt, files, styles = corpus.resolve(name)
        assert found_fmt == fmt and files, name
    loaded = corpus.load("oneills", show_progress=False)
    assert len(loaded.pieces) > 1000
    assert all(p.text.startswith("X:1\n") for p in loaded.pieces)


def test_broken_files_are_skipped_with_a_reason(tmp_path):
    (tmp_path / "good.abc").write_text("X:1\nT:ok\nK:C\nCDEF|\n")
    (tmp_path / "binary.abc").write_bytes(b"\x00\x01\x02garbage")
    (tmp_path / "empty.abc").write_text("no tunes in here\n")
    (tmp_path / "nokern.krn").write_text("**text\nhello\n*-\n")
    loaded = corpus.load([str(tmp_path / "good.abc"), str(tmp_path / "binary.abc"), str(tmp_path / "empty.abc")])
    assert len(loaded.pieces) == 1
    reasons = dict(loaded.skipped)
    assert reasons[str(tmp_path / "binary.abc")] == "binary data, not a text file"
    assert reasons[str(tmp_path / "empty.abc")] == "no tunes (no X: line)"
    kern = corpus.load(str(tmp_path / "nokern.krn"))
    assert kern.pieces == [] and kern.skipped[0][1] == "no **kern spine (spines: **text)"
    with pytest.raises(TunesmithError, match="no usable pieces"):
        corpus.require_pieces(kern)


def test_bad_specs_are_clear_errors(tmp_path):
    with pytest.raises(TunesmithError, match="neither a named corpus"):
        corpus.resolve("no-such-corpus")
    with pytest.raises(TunesmithError, match="'oneills' is abc, not kern"):
        corpus.resolve("oneills", "kern")
    (tmp_path / "a.abc").write_text("X:1\nK:C\nC|\n")
    (tmp_path / "b.krn").write_text("**kern\n4c\n*-\n")
    with pytest.raises(TunesmithError, match="mixes formats"):
        corpus.resolve(str(tmp_path))
    with pytest.raises(TunesmithError, match="no music files"):
        corpus.resolve(str(tmp_path / "*.xyz"))


def test_globs_and_the_shared_nottingham_books():
    folder = shared("nottingham-abc")
    loaded = corpus.load(str(folder / "*.abc"))
    assert len(loaded.pieces) + loaded.duplicates == 954
    assert loaded.skipped == []
    for p in loaded.pieces:
        header = p.text.split("\n")
        k = next(i for i, line in enumerate(header) if line.startswith("K:"))
        assert header[0] == "X:1" and header[k - 1].startswith("L:")
