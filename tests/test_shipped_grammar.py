"""The shipped ABC models' grammars and `tunesmith check` agree on the models' own validation tunes:
every validation tune the grammar refuses somewhere fails `check` (so none that passes is refused)."""

import json
from pathlib import Path

import pytest

import tunesmith
from tunesmith import bundle, data
from tunesmith.check import check_texts
from tunesmith.corpus import load
from tunesmith.notation import abc
from tunesmith.train.config import TrainConfig


@pytest.mark.parametrize("name", ["folk", "essen"])
def test_every_validation_tune_the_grammar_refuses_fails_check(name):
    # (the contrapositive of "every validation tune that passes check is accepted": check runs only on
    # the refused ones, 141 of folk's 305 and 114 of essen's 850 on 2026-12-04, not on all)
    path = Path(tunesmith.__file__).parent / "models" / name
    card = json.loads((path / "card.json").read_text())
    codec = bundle.load(str(path), "cpu").codec
    pieces = load(card["corpus"].split("+"), options=codec.reading(), show_progress=False).pieces
    # the split `tunesmith train` drew with its defaults (the recipe sets neither the fraction nor the seed)
    _, valid = data.split(len(pieces), TrainConfig().valid_fraction, TrainConfig().seed)
    assert len(valid) == card["valid_pieces"]
    rule = codec.constraint()
    refused = [pieces[i] for i in valid if rule.accepts(codec.encode(pieces[i]).tolist()) is not None]
    assert refused          # (the splits hold tunes that fail check, and the grammar refuses them)
    reports = check_texts([abc.finish(p.text, 1, "t") for p in refused], ".abc")
    passing = [p.name for p, report in zip(refused, reports) if report.valid]
    assert passing == [], f"{len(passing)} validation tunes pass check and are refused by the grammar"
