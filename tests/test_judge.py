"""Evaluation: held-out likelihood, novelty (copies), the judge's report, the copy guard, checkpoint selection."""

import json
import random
from pathlib import Path

import pytest

from tunesmith import TunesmithError, cli
from tunesmith.notation import abc
from tunesmith.evaluate.judge import judge
from tunesmith.evaluate.novelty import NoveltyIndex
from tunesmith.train import TrainConfig, train

from conftest import shared

TINY = dict(layers=1, hidden=64, embed=16, dropout=0.0, batch_size=4, seq_len=64, eval_every=40, preview_length=20)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))


def random_tunes(count: int, seed: int) -> list[str]:
    """Distinct little reels: random notes, so no two share long runs."""
    rng = random.Random(seed)
    notes = "DEFGABcdef"
    tunes = []
    for i in range(count):
        bars = ["".join(rng.choice(notes) for _ in range(8)) for _ in range(8)]
        tunes.append(f"X:1\nT:Random {seed}-{i}\nM:4/4\nL:1/8\nK:D\n{'|'.join(bars)}|]\n")
    return tunes


def write_tunes(folder: Path, tunes: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, tune in enumerate(tunes):
        path = folder / f"tune-{i + 1:03d}.abc"
        path.write_text(tune)
        paths.append(path)
    return paths


def transposed_up_a_tone(tune: str) -> str:
    head, _, body = tune.partition("K:D\n")
    up = str.maketrans("DEFGABcdef", "EFGABcdefg")
    return head + "K:E\n" + body.translate(up)


def test_novelty_index_finds_runs_and_their_source():
    rng = random.Random(3)
    pieces = [(f"p{i}", [(rng.randrange(55, 80), rng.choice([0.5, 1.0])) for _ in range(60)]) for i in range(200)]
    index = NoveltyIndex.from_pieces(pieces)
    copied = pieces[17][1][5:45]
    match = index.longest_match(copied)
    assert (match.length, match.source, match.start, match.source_start) == (40, "p17", 0, 5)
    # a copy with its rhythm changed is only a copy in short runs; a transposed one only by intervals
    up = [(p + 5, d) for p, d in copied]
    assert index.longest_match(up).length < 10
    by_interval = index.longest_match(up, intervals=True)
    assert (by_interval.length, by_interval.source, by_interval.source_start) == (40, "p17", 5)
    assert index.longest_match([]).length == 0
    assert index.longest_match([(120, 0.25)]).length == 0


def test_judge_flags_copies_with_their_source_and_not_new_tunes(tmp_path):
    corpus_tunes = random_tunes(30, seed=1)
    write_tunes(tmp_path / "corpus", corpus_tunes)
    copies = write_tunes(tmp_path / "copies", corpus_tunes[:3])
    new = write_tunes(tmp_path / "new", random_tunes(3, seed=2))
    moved = write_tunes(tmp_path / "moved", [transposed_up_a_tone(corpus_tunes[5])])
    result = judge([str(p) for p in copies + new + moved], [str(tmp_path / "corpus")], max_copy=16,
                   show_progress=False)
    rows = {Path(r["piece"]).name: r for r in result.rows}
    assert len(result.rows) == 7
    for i in range(3):
        row = result.rows[i]
        assert row["copy"] and row["longest_copy"] == 64 and row["copied_from"].startswith(f"tune-{i + 1:03d}.abc")
    assert not any(r["copy"] for r in result.rows[3:6]) and max(r["longest_copy"] for r in result.rows[3:6]) < 10
    assert not result.rows[6]["copy"]                      # transposed: new in exact mode...
    by_interval = judge([str(p) for p in moved], [str(tmp_path / "corpus")], max_copy=16, intervals=True,
                        show_progress=False)
    assert by_interval.rows[0]["copy"] and by_interval.rows[0]["copied_from"].startswith("tune-006.abc")
    assert result.summary["copies"] == 3 and result.summary["valid"] == 7 and rows
    assert result.summary["corpus_melodies"] == 30


def test_judge_report_and_cli(tmp_path, capsys):
    write_tunes(tmp_path / "corpus", random_tunes(10, seed=1))
    pieces = write_tunes(tmp_path / "pieces", random_tunes(2, seed=5) + ["X:1\nT:broken\nM:4/4\nL:1/8\nK:D\nABcd efga|ABcd efga bc|ABcd efga|]\n"])
    report = tmp_path / "report"
    assert cli.main(["-q", "judge", *map(str, pieces), "--corpus", str(tmp_path / "corpus"),
                     "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "3 pieces: 2 valid" in out and "0 copies" in out and "INVALID" in out
    html = (report / "report.html").read_text()
    pngs = sorted(p.name for p in report.glob("*.png"))
    assert pngs and all(f'src="{name}"' in html for name in pngs)
    data = json.loads((report / "report.json").read_text())
    assert data["extra"]["summary"]["pieces"] == 3 and len(data["extra"]["pieces"]) == 3
    assert "pitch" in (report / "report.md").read_text().lower()
    assert cli.main(["-q", "judge", str(tmp_path / "nope.abc"), "--corpus", str(tmp_path / "corpus")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_judge_on_nottingham_held_out_and_copied_tunes(tmp_path):
    books = sorted(shared("nottingham-abc").glob("reels*.abc"))[:2]
    tunes = [t for book in books for _, t in abc.read_book(abc.decode(book.read_bytes()), str(book))[0]]
    rng = random.Random(1)
    rng.shuffle(tunes)
    corpus, held = tunes[20:], tunes[:20]
    write_tunes(tmp_path / "corpus", corpus)
    copies = write_tunes(tmp_path / "copies", corpus[:10])
    human = write_tunes(tmp_path / "human", held)
    result = judge([str(p) for p in copies + human], [str(tmp_path / "corpus")], show_progress=False)
    assert all(r["copy"] for r in result.rows[:10])
    flagged = [r for r in result.rows[10:] if r["copy"]]
    # Nottingham holds a few versions of one tune in different books; a new tune shares far less
    assert len(flagged) <= 2, flagged


def test_evaluate_matches_training_validation(tmp_path, capsys):
    tunes = random_tunes(12, seed=7)
    write_tunes(tmp_path / "corpus", tunes)
    run = tmp_path / "run"
    train(TrainConfig(corpus=[str(tmp_path / "corpus")], out=str(run), steps=40, valid_fraction=0.25, **TINY))
    info = json.loads((run / "run.json").read_text())
    valid_files = sorted({name.split("#")[0] for name in info["split"]["valid"]})
    card = json.loads((run / "best" / "card.json").read_text())
    assert cli.main(["-q", "evaluate", str(run), "--data", *valid_files, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pieces"] == len(valid_files) == card["valid_pieces"]
    assert result["bits_per_token"] == pytest.approx(card["val_bits"], abs=1e-5)
    assert result["accuracy"] == pytest.approx(card["val_accuracy"], abs=1e-9)
    assert result["bits_per_character"] > 0
    (tmp_path / "odd.abc").write_text("X:1\nT:odd\nM:4/4\nL:1/8\nK:D\n\u00e9\u00e9\u00e9|\n")
    # issue 18: a piece with symbols the model never saw is scored, its unknown symbols counted
    assert cli.main(["-q", "evaluate", str(run), "--data", str(tmp_path / "odd.abc")]) == 0
    assert "3 of 32 tokens (9.4%) were symbols the model never saw" in capsys.readouterr().out


def test_copy_guard_rejects_copies_of_an_over_trained_model(tmp_path, capsys):
    tunes = random_tunes(2, seed=11)
    write_tunes(tmp_path / "corpus", tunes)
    run = tmp_path / "run"
    train(TrainConfig(corpus=[str(tmp_path / "corpus")], out=str(run), steps=150, valid_fraction=0.0,
                      lr=0.01, **{**TINY, "hidden": 128, "eval_every": 150}))
    assert (run / "best" / "corpus_index.safetensors").exists()
    out = tmp_path / "out"
    # without the guard the over-trained model writes its corpus back
    assert cli.main(["-q", "sample", str(run), "-n", "4", "--seed", "1", "--temperature", "0.3", "--max-copy", "off",
                     "-o", str(out / "free"), "--max-length", "400"]) == 0
    copied = judge([str(p) for p in sorted((out / "free").glob("*.abc"))], [str(tmp_path / "corpus")],
                   max_copy=16, show_progress=False)
    assert copied.summary["copies"] >= 3
    # with it, copies are discarded and the command says so
    cli.main(["sample", str(run), "-n", "2", "--seed", "1", "--temperature", "0.3", "--max-copy", "16",
              "--tries", "2", "-o", str(out / "guarded"), "--max-length", "400"])
    err = capsys.readouterr().err
    assert "only 0 of 2 pieces passed" in err and "more than 16 notes in a row from the corpus" in err
    with pytest.raises(TunesmithError, match="--max-copy"):
        cli.max_copy_notes("many")


def test_select_recommends_a_checkpoint_and_sample_uses_it(tmp_path, capsys):
    write_tunes(tmp_path / "corpus", random_tunes(8, seed=3))
    run = tmp_path / "run"
    train(TrainConfig(corpus=[str(tmp_path / "corpus")], out=str(run), steps=60, valid_fraction=0.25,
                      **{**TINY, "eval_every": 20}))
    assert cli.main(["-q", "select", str(run), "-n", "2", "--max-length", "300"]) == 0
    out = capsys.readouterr().out
    assert sum(line.startswith("step-") for line in out.splitlines()) == 3 and out.count("<- recommended") == 1
    chosen = json.loads((run / "select.json").read_text())["recommended"]
    assert (run / "select.png").stat().st_size > 1000
    from tunesmith import bundle
    assert bundle.resolve(run) == run / chosen
    assert cli.main(["-q", "select", str(tmp_path / "corpus")]) == 2
