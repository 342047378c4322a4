"""A model that learns as it reads (adapt.py): `evaluate --adapt` (dynamic evaluation) and
`continue --adapt`."""

import json
import math

import numpy as np
import pytest
import torch

from tunesmith import TunesmithError, adapt, bundle, cli, data
from tunesmith.evaluate.tokens import evaluate_tokens
from tunesmith.nets import ModelConfig, build_model

from test_continue import MINE
from test_controls import tiny_models


def tiny(architecture: str = "lstm", seed: int = 0):
    torch.manual_seed(seed)
    config = ModelConfig(architecture=architecture, layers=2, hidden=24, embed=8, dropout=0.3, vocab_size=12)
    return build_model(config).eval()


def pieces(seed: int = 3, count: int = 4) -> list[np.ndarray]:
    """Pieces with a habit to learn: one figure of ids, repeated, each piece its own length."""
    rng = np.random.default_rng(seed)
    figure = rng.integers(3, 12, size=7)
    return [np.concatenate([[1], np.tile(figure, 4 + k)[:23 + 9 * k], [2]]).astype(np.int32) for k in range(count)]


def weights(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("architecture", ["lstm", "frames"])
def test_without_learning_it_is_the_static_figure(architecture):
    model, arrays = tiny(architecture), pieces()
    static = evaluate_tokens(model, data.TokenSet.from_arrays(arrays), torch.device("cpu"))
    for segment in (1, 5, 64):      # segments carry the state: where the steps fall changes nothing
        read = adapt.adapted_likelihood(model, arrays, torch.device("cpu"), lr=0, segment=segment,
                                        show_progress=False)
        assert read.tokens == static["tokens"] == sum(len(a) - 1 for a in arrays)
        assert read.bits == pytest.approx(static["bits"], rel=1e-5)
        assert read.accuracy == pytest.approx(static["accuracy"])


def test_learning_as_it_reads_lowers_the_cost_of_what_repeats_and_leaves_the_model_alone():
    model, arrays = tiny(), pieces()
    before = weights(model)
    static = adapt.adapted_likelihood(model, arrays, torch.device("cpu"), lr=0, show_progress=False)
    learnt = adapt.adapted_likelihood(model, arrays, torch.device("cpu"), lr=0.5, segment=10, show_progress=False)
    assert learnt.bits < 0.8 * static.bits
    assert learnt.accuracy > static.accuracy
    assert same(before, weights(model))
    assert all(p.requires_grad for p in model.parameters()) and not model.training


def test_each_token_is_scored_before_the_model_learns_from_it():
    # the first segment is scored by the weights as they came; a second reading of the same piece after
    # learning from it costs less, but the first figure is the static one
    model, arrays = tiny(), pieces()[:1]
    learner = adapt.Learner(model, torch.device("cpu"), lr=1.0, segment=len(arrays[0]))
    first, _, count = learner.read(arrays[0])
    static = evaluate_tokens(model, data.TokenSet.from_arrays(arrays), torch.device("cpu"))
    assert first / count / math.log(2) == pytest.approx(static["bits"], rel=1e-5)
    second, _, _ = learner.read(arrays[0])
    assert second < first


def test_a_copy_learns_a_primer():
    model, primer = tiny(), pieces(count=1)[0]
    before = weights(model)
    learnt = adapt.adapted_to(model, primer, torch.device("cpu"), lr=0.3, segment=8, passes=4)
    assert learnt is not model and same(before, weights(model))
    assert not learnt.training and not any(p.requires_grad for p in learnt.parameters())
    tokens = data.TokenSet.from_arrays([primer])
    assert (evaluate_tokens(learnt, tokens, torch.device("cpu"))["bits"]
            < evaluate_tokens(model, tokens, torch.device("cpu"))["bits"])


@pytest.mark.parametrize("lr, segment, passes, words", [
    (-0.1, 20, 1, "--adapt-lr must be a number from 0 to 100"),
    (float("nan"), 20, 1, "--adapt-lr"),
    (float("inf"), 20, 1, "--adapt-lr"),
    (0.1, 0, 1, "--adapt-segment must be a whole number of tokens from 1"),
    (0.1, 2.5, 1, "--adapt-segment"),
    (0.1, 20, 0, "--adapt-passes must be a whole number from 1 to 100"),
])
def test_settings_out_of_range_are_refused(lr, segment, passes, words):
    with pytest.raises(TunesmithError, match=words):
        adapt.check_settings(lr, segment, passes)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory.mktemp("adapt"))


def test_evaluate_adapt_prints_and_reports_both_figures(models, tmp_path, capsys):
    book = tmp_path / "book.abc"
    book.write_text("\n\n".join(f"X:{k}\nT:T{k}\nM:6/8\nL:1/8\nK:D\nABA d2e|fed e2d|ABA d2e|fed d3|]\n"
                                for k in range(1, 6)))
    args = ["-q", "evaluate", str(models / "jigs"), "--data", str(book)]
    assert cli.main(args + ["--adapt", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    adapted = result["adapted"]
    assert adapted["tokens"] == result["tokens"] and adapted["lr"] == adapt.EVALUATE_ADAPT_LR
    assert adapted["bits_per_token"] < result["bits_per_token"]      # five tunes, one figure: it learns it
    assert adapted["bits_per_character"] == pytest.approx(adapted["bits_per_token"] * result["tokens"]
                                                          / result["characters"])
    assert cli.main(args + ["--adapt-lr", "0.2", "--adapt-segment", "7"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("adapting as it reads (lr 0.2, a step every 7 tokens): ")
    assert cli.main(args + ["--adapt-segment", "0"]) == 2
    assert "--adapt-segment must be" in capsys.readouterr().err


def test_continue_adapt_learns_the_tune_and_keeps_the_users_text(models, tmp_path, capsys):
    path = tmp_path / "mine.abc"
    path.write_text(MINE)
    before = (models / "jigs" / "weights.safetensors").read_bytes()
    status = cli.main(["-q", "continue", str(path), "-m", str(models / "jigs"), "-n", "2", "--seed", "5",
                       "--max-length", "200", "-o", str(tmp_path / "out"), "--adapt", "--adapt-passes", "2"])
    texts = [f.read_text() for f in sorted((tmp_path / "out").glob("mine-continued-*.abc"))]
    assert len(texts) == 2 and all(t.startswith(MINE) and len(t) > len(MINE) for t in texts)
    assert status in (0, 1) and (models / "jigs" / "weights.safetensors").read_bytes() == before
    assert cli.main(["continue", str(path), "-m", str(models / "jigs"), "-o", str(tmp_path / "out"),
                     "--adapt-passes", "0"]) == 2
    assert "--adapt-passes must be" in capsys.readouterr().err


def test_the_learnt_bundle_has_a_new_model_and_the_same_codec(models):
    from tunesmith import continuation

    loaded = bundle.load(models / "jigs")
    before = weights(loaded.model)
    tune = continuation.prepare(loaded.codec, MINE)
    learnt = continuation.learnt(loaded, tune, "cpu", lr=0.2, passes=2)
    assert learnt.codec is loaded.codec and learnt.model is not loaded.model
    assert not same(before, weights(learnt.model)) and same(before, weights(loaded.model))


def test_the_web_app_learns_the_tune_it_continues_where_asked(models):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from tunesmith.web import app as web

    with TestClient(web.create_app([str(models)], running=1, waiting=1, hosts=["testserver"], wav=False)) as client:
        request = {"model": "jigs", "primer": MINE, "continuation": True, "adapt": True, "seed": 3, "length": 160,
                   "checked": False}
        learnt = client.post("/api/compose", json=request)
        assert learnt.status_code == 200, learnt.text
        assert learnt.json()["pieces"][0]["text"].startswith(MINE)
        alone = client.post("/api/compose", json={**request, "continuation": False})
        assert alone.status_code == 400 and "adapt learns a tune of yours" in alone.json()["detail"]
        assert client.post("/api/compose", json={**request, "adapt": "yes please"}).status_code == 422
