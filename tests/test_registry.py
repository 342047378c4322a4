"""Models by name: the search path, `tunesmith models`, and sampling a model by its name."""

import json
import shutil

import pytest

from tunesmith import TunesmithError, bundle, cli, registry
from tunesmith.train import TrainConfig, train

from test_train_sample import TINY, folk_corpus


@pytest.fixture
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    train(TrainConfig(corpus=[str(folk_corpus(tmp))], out=str(tmp / "run"), steps=10, copy_index=False, **TINY))
    return tmp / "run" / "best"


def test_models_are_found_by_name_first_match_wins(tmp_path, monkeypatch, trained, capsys):
    mine, shared = tmp_path / "mine", tmp_path / "shared"
    shutil.copytree(trained, mine / "folk")
    shutil.copytree(trained, shared / "folk")
    shutil.copytree(trained, shared / "reels")
    (shared / "notes").mkdir()   # not a bundle: ignored
    monkeypatch.setenv("TUNESMITH_MODELS", str(shared))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    entries = {e.name: e for e in registry.models([str(mine)])}
    assert set(entries) >= {"folk", "reels"} and "notes" not in entries
    assert entries["folk"].path == mine / "folk" and entries["folk"].source == "--models"
    # the package's own folk model comes last on the path
    assert entries["folk"].shadows == [shared / "folk", registry.PACKAGE_MODELS / "folk"]
    assert entries["reels"].source == "$TUNESMITH_MODELS" and entries["reels"].card["format"] == "abc"
    assert bundle.resolve("reels") == shared / "reels"
    with pytest.raises(TunesmithError, match="no model called 'jigs'; known models: .*folk.*reels"):
        bundle.resolve("jigs")

    assert cli.main(["models", "--models", str(mine)]) == 0
    out = capsys.readouterr().out
    assert "folk" in out and "reels" in out and f"(hides {shared / 'folk'})" in out
    assert cli.main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {m["name"] for m in listed} >= {"folk", "reels"}
    assert cli.main(["-q", "sample", "reels", "-o", str(tmp_path / "out"), "--seed", "1", "--max-length", "80"]) == 0
    assert len(list((tmp_path / "out").glob("*.abc"))) == 1
    # a damaged card is listed with its problem, not a crash
    (shared / "reels" / "card.json").write_text("{oops")
    assert cli.main(["models"]) == 0
    assert "card.json is unreadable" in capsys.readouterr().out
