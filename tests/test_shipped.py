"""The models shipped in the package, and `tunesmith compose` with them."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tunesmith import TunesmithError, bundle, check, cli, compose, registry, render, sample

SHIPPED = ("folk", "chorale", "chorale-melody", "essen", "quartet")
LIMIT_MB = 10


def shipped_entries():
    return {e.name: e for e in registry.models() if e.source == "shipped"}


@pytest.fixture(autouse=True)
def only_the_package(tmp_path, monkeypatch):
    """The search path holds nothing but the package's models (no user folder of this machine)."""
    monkeypatch.delenv("TUNESMITH_MODELS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "no-user-models"))


def test_the_package_ships_small_models_with_cards(capsys):
    entries = shipped_entries()
    assert set(entries) >= set(SHIPPED)
    for name in SHIPPED:
        e = entries[name]
        size = sum(f.stat().st_size for f in e.path.iterdir())
        assert size <= LIMIT_MB * 1e6, f"{name} is {size / 1e6:.1f} MB"
        card = e.card
        assert e.problem is None
        for field in ("corpus", "pieces", "val_bits", "step", "compose", "judged", "recipe"):
            assert field in card, f"{name}'s card lacks {field}"
        assert card["judged"]["raw"] and card["judged"]["composed"]["pieces"] == 100
        assert compose.card_defaults(card).valid_only
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert any(line.startswith(name) and "shipped" in line for line in out.splitlines())


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_composes_a_piece_that_passes_check(name, tmp_path):
    loaded = bundle.load(name)
    options = compose.card_defaults(loaded.card)
    options.n, options.seed = 1, 7
    outcome = compose.run(loaded, options)
    assert outcome.failed == 0 and len(outcome.pieces) == 1
    [path] = sample.write(outcome.pieces, loaded.codec, tmp_path, stem=name)
    [report] = check.check([path], show_progress=False)
    assert report.valid, report.reasons
    assert report.notes >= 8


def test_compose_with_no_arguments_writes_a_folk_tune_here(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compose", "--seed", "3"]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert "folk-001.abc" in written and "folk-001.mid" in written
    if render.wav_missing() is None:
        assert "folk-001.wav" in written
    [report] = check.check([tmp_path / "folk-001.abc"], show_progress=False)
    assert report.valid
    # a second composition does not overwrite the first
    assert cli.main(["compose", "--seed", "4", "--to", ""]) == 0
    assert (tmp_path / "folk-002.abc").exists() and not (tmp_path / "folk-002.mid").exists()
    assert (tmp_path / "folk-001.abc").read_text() != (tmp_path / "folk-002.abc").read_text()
    out = capsys.readouterr().out
    assert "folk-001.abc" in out and "folk-002.abc" in out


def test_compose_flags_and_unknown_models_get_one_line_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compose", "--style", "polka"]) == 2
    err = capsys.readouterr().err
    assert "no model called 'polka'" in err and "folk" in err and "chorale" in err
    assert cli.main(["compose", "--temperature", "-1"]) == 2
    assert "--temperature must be between 0 and 10" in capsys.readouterr().err
    assert cli.main(["compose", "--key", "C#"]) == 2         # folk knows its corpus's keys, and lists them
    assert "this model knows no --key 'C#'; it knows: G (1158), D (885)" in capsys.readouterr().err
    assert cli.main(["compose", "--voice-leading", "strict"]) == 2     # a text model has no voices to lead
    assert "this model takes no --voice-leading" in capsys.readouterr().err
    assert cli.main(["compose", "--style", "quartet:nobody"]) == 2
    assert "unknown style 'nobody'; this model knows: beethoven, haydn, mozart" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_compose_a_composer_of_the_quartet_model_in_16_bars(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compose", "--style", "quartet:haydn", "--seed", "2", "--to", "kern"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quartet-haydn-001.krn", "quartet-haydn-001.musicxml"]
    [report] = check.check([tmp_path / "quartet-haydn-001.musicxml"], show_progress=False)
    assert report.valid
    kern = (tmp_path / "quartet-haydn-001.krn").read_text()
    assert '*I"Violoncello\t*I"Viola\t*I"Violin II\t*I"Violin I' in kern
    bars = {line.split("\t")[0] for line in kern.splitlines() if line.startswith("=")}
    assert "=16" in bars and "=17" not in bars                      # the card's --bars 16


def test_a_corrupted_copy_of_a_shipped_model_is_one_line(tmp_path):
    copy = tmp_path / "models" / "folk"
    shutil.copytree(registry.find("folk"), copy)
    weights = copy / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    done = subprocess.run([sys.executable, "-m", "tunesmith", "compose", "--models", str(tmp_path / "models"),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "truncated or corrupt" in lines[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_card_defaults_are_checked():
    assert compose.card_defaults({}).valid_only is True
    options = compose.card_defaults({"compose": {"temperature": 0.8, "primer": "X:1\n", "tries": 6}})
    assert (options.temperature, options.primer, options.tries) == (0.8, "X:1\n", 6)
    with pytest.raises(TunesmithError, match="compose.temperature"):
        compose.card_defaults({"compose": {"temperature": "hot"}})
    with pytest.raises(TunesmithError, match="compose.tries"):
        compose.card_defaults({"compose": {"tries": True}})


def test_export_halves_the_weights_and_keeps_the_model(tmp_path, capsys):
    source = registry.find("chorale")
    assert cli.main(["export", str(source), "--out", str(tmp_path / "mine")]) == 0
    assert cli.main(["export", str(tmp_path / "mine"), "--out", str(tmp_path / "half"), "--half"]) == 0
    full, half = bundle.load(tmp_path / "mine"), bundle.load(tmp_path / "half")
    assert json.loads((tmp_path / "half" / "card.json").read_text())["weights_dtype"] == "float16"
    size = lambda p: (p / "weights.safetensors").stat().st_size
    assert size(tmp_path / "half") < 0.6 * size(tmp_path / "mine")
    assert sorted(p.name for p in (tmp_path / "half").iterdir()) == sorted(p.name for p in Path(source).iterdir())
    for (k, a), b in zip(full.model.state_dict().items(), half.model.state_dict().values()):
        assert (a - b).abs().max() < 1e-2 * max(1.0, a.abs().max().item()), k
    with pytest.raises(TunesmithError, match="exists"):
        bundle.export(source, tmp_path / "half")
