"""--valid-books: validation by whole files (books), recorded in run.json and kept by --resume; a
name the corpus lacks is refused in one line that lists its files."""

import json

import pytest
from test_train_sample import TINY

from tunesmith import TunesmithError, data
from tunesmith.cli import main
from tunesmith.train import TrainConfig, train

SETTINGS = dict(TINY, eval_every=5, seed=7, copy_index=False)
PHRASES = ["GABc dedB", "A2FA dAFA", "d2fd cAGF", "GEFD E2D2", "B2GB dBGB", "c2ec BcAF"]


def books(folder, sizes=(5, 4, 3)):
    """A corpus folder of ABC books a.abc, b.abc, c.abc, ... with `sizes` distinct tunes each."""
    folder.mkdir()
    number = 0
    for k, size in enumerate(sizes):
        tunes = []
        for _ in range(size):
            body = "|".join(PHRASES[(number * 5 + j * (k + 1)) % len(PHRASES)] for j in range(4))
            tunes.append(f"X: {number + 1}\nT:Tune {number}\nM:4/4\nK:{'GDA'[k % 3]}\n{body}|]\n")
            number += 1
        (folder / f"{'abcdef'[k]}.abc").write_text("\n".join(tunes))
    return folder


def test_validation_is_every_piece_of_the_held_out_books_recorded_and_kept_on_resume(tmp_path):
    corpus = books(tmp_path / "corpus")
    out = tmp_path / "run"
    result = train(TrainConfig(corpus=[str(corpus)], out=str(out), steps=10, valid_books=["b.abc"], **SETTINGS))
    assert result.steps == 10
    run = json.loads((out / "run.json").read_text())
    held = str(corpus.absolute() / "b.abc")
    assert run["split"]["valid_books"] == [held]
    assert run["settings"]["valid_books"] == ["b.abc"]
    assert len(run["split"]["valid"]) == 4 and all(n.startswith(held + "#") for n in run["split"]["valid"])
    assert len(run["split"]["train"]) == 8 and not any(n.startswith(held) for n in run["split"]["train"])
    assert "--valid-books b.abc" in TrainConfig(**run["settings"]).command()

    resumed = train(TrainConfig(corpus=[], out=str(out), steps=20), resume=True)
    assert resumed.steps == 20
    assert json.loads((out / "run.json").read_text())["split"] == run["split"]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15, 20] and all(r["val_bits"] > 0 for r in rows)
    with pytest.raises(TunesmithError, match=r"--resume keeps the run's validation split \(held-out books: b.abc\)"):
        train(TrainConfig(corpus=[], out=str(out), steps=30, valid_books=["a.abc"]), resume=True)


def test_books_are_named_by_file_name_path_or_the_end_of_a_path(tmp_path):
    corpus = books(tmp_path / "corpus")
    files = sorted(str(p) for p in corpus.iterdir())
    assert data.match_books(["c.abc", str(corpus / "a.abc")], files) == [files[0], files[2]]
    assert data.match_books(["corpus/b.abc"], files) == [files[1]]
    assert data.match_books([str(tmp_path / "corpus" / ".." / "corpus" / "b.abc")], files) == [files[1]]
    assert data.file_of("/x/odd#name.abc#X3 Tune", {"/x/odd#name.abc"}) == "/x/odd#name.abc"
    assert data.file_of("/x/y.krn", {"/x/y.krn"}) == "/x/y.krn"
    assert data.file_of("/x/z.abc#X1", {"/x/y.abc"}) is None
    with pytest.raises(TunesmithError, match=r"'x.abc' names 2 files of the corpus \(one/x.abc, two/x.abc\)"):
        data.match_books(["x.abc"], ["/r/one/x.abc", "/r/two/x.abc", "/r/one/y.abc"])
    names = ["/r/a.abc#X1", "/r/a.abc#X2", "/r/b.abc#X1"]
    assert data.split_books(names, ["/r/a.abc", "/r/b.abc"], ["/r/b.abc"]) == ([0, 1], [2])
    with pytest.raises(TunesmithError, match="holds out every file"):
        data.split_books(names, ["/r/a.abc", "/r/b.abc"], ["/r/a.abc", "/r/b.abc"])
    with pytest.raises(TunesmithError, match="no piece of the corpus was read from c.abc"):
        data.split_books(names, ["/r/a.abc", "/r/b.abc", "/r/c.abc"], ["/r/c.abc"])


def test_an_unknown_book_is_refused_in_one_line_listing_the_corpus_files(tmp_path, capsys):
    corpus = books(tmp_path / "corpus")
    out = tmp_path / "run"
    code = main(["train", "--corpus", str(corpus), "--valid-books", "b.abc", "nope.abc", "--steps", "5",
                 "--no-copy-index", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == "error: --valid-books: the corpus has no file 'nope.abc'; its files: a.abc, b.abc, c.abc"
    assert not (out / "run.json").exists()
    with pytest.raises(TunesmithError, match="holds out every file"):
        train(TrainConfig(corpus=[str(corpus)], out=str(tmp_path / "all"), steps=5,
                          valid_books=["a.abc", "b.abc", "c.abc"], **SETTINGS))
    with pytest.raises(TunesmithError, match="--valid-books takes one or more file names"):
        TrainConfig(corpus=[str(corpus)], out=str(out), valid_books=[""]).check()
