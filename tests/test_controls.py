"""Sampling controls (issue 17, part 4): --meter/--key/--mode/--rhythm forced by the grammar, refused
with the known values, listed by 'tunesmith models NAME' and the card, offered as pickers on the web."""

import json
import re
import shutil
from types import SimpleNamespace

import pytest

from tunesmith import TunesmithError, bundle, cli, log, registry
from tunesmith.compose import SampleOptions, compose
from tunesmith.options import asked_controls, check_controls
from tunesmith.sample import generate

from test_train_sample import TINY

KINDS = [("6/8", "jig", "D", "ABA d2e|fed e2d|ABA d2e|fdB A3|"),
         ("4/4", "reel", "G", "GABc dedB|A2FA dAFA|d2fd cAGF|GEFD E2D2|"),
         ("3/4", "waltz", "Ador", "A2 B2 c2|e4 d2|c2 B2 A2|E6|")]
KNOWN = {"meter": {"3/4": 6, "4/4": 6, "6/8": 6}, "key": {"A": 6, "D": 6, "G": 6},
         "mode": {"major": 12, "dorian": 6}, "rhythm": {"jig": 6, "reel": 6, "waltz": 6}}


def tune_book(folder):
    """18 tunes: a jig in D, a reel in G and a waltz in A dorian, six of each, with a source line."""
    tunes = []
    for i in range(18):
        meter, rhythm, key, body = KINDS[i % 3]
        tunes.append(f"X: {i + 1}\nT:Tune {i}\nS:someone\nR:{rhythm}\nM:{meter}\nL:1/8\nK:{key}\n{body}\n{body}|]\n")
    path = folder / "book.abc"
    path.write_text("\n".join(tunes))
    return path


def tiny_models(tmp):
    """A tiny ABC model trained on `tune_book`, exported as models/jigs (its card lists the controls)."""
    import torch

    from tunesmith.train import TrainConfig, train

    was, threads = log.is_quiet(), torch.get_num_threads()
    log.set_quiet(True)
    torch.set_num_threads(1)
    try:
        train(TrainConfig(corpus=[str(tune_book(tmp))], out=str(tmp / "run"), steps=30, copy_index=False, **TINY))
    finally:
        log.set_quiet(was)
        torch.set_num_threads(threads)
    bundle.export(tmp / "run", tmp / "models" / "jigs")
    return tmp / "models"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory.mktemp("controls"))


def test_the_codec_the_card_and_models_name_know_the_controls(models, capsys):
    loaded = bundle.load(models / "jigs")
    assert loaded.codec.controls() == KNOWN
    assert json.loads((models / "jigs" / "card.json").read_text())["controls"] == KNOWN
    assert cli.main(["models", "jigs", "--models", str(models)]) == 0
    out = capsys.readouterr().out
    assert "--meter: 3/4 (6), 4/4 (6), 6/8 (6)" in out and "--mode: major (12), dorian (6)" in out
    assert "--rhythm: jig (6), reel (6), waltz (6)" in out
    assert cli.main(["models", "jigs", "--models", str(models), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["controls"] == KNOWN


def test_forced_header_in_every_sample(models, tmp_path):
    out = tmp_path / "out"
    assert cli.main(["-q", "sample", str(models / "jigs"), "-n", "6", "--seed", "2", "--max-length", "250",
                     "--meter", "6/8", "--rhythm", "jig", "--key", "D", "-o", str(out)]) == 0
    files = sorted(out.glob("*.abc"))
    assert len(files) == 6
    for f in files:
        text = f.read_text()
        head = dict(re.findall(r"^([A-Z]):(.*)$", text[:text.index("\nK:") + 1] + re.search(r"^K:.*", text, re.M)[0],
                               re.M))
        assert head["M"] == "6/8" and head["R"] == "jig" and head["K"].startswith("D"), text[:200]
    # the mode too: A dorian is the only dorian tune of the corpus
    loaded = bundle.load(models / "jigs")
    made = compose(loaded, SampleOptions(n=4, seed=3, max_length=200, mode="dorian", key="A"), tmp_path / "dor")
    for path in made.paths:
        assert re.search(r"^K:A ?dor", path.read_text(), re.M | re.I), path.read_text()[:200]


@pytest.mark.parametrize("flags, words", [
    (["--meter", "5/4"], "this model knows no --meter '5/4'; it knows: 3/4 (6), 4/4 (6), 6/8 (6)"),
    (["--rhythm", "hornpipe"], "it knows: jig (6), reel (6), waltz (6)"),
    (["--key", "Bb"], "this model knows no --key 'Bb'; it knows: A (6), D (6), G (6)"),
    (["--meter", "6/8", "--no-constraint"], "--meter is forced by the model's grammar: it cannot be asked "
                                            "with --no-constraint"),
])
def test_an_unknown_value_is_one_line_listing_the_known(models, tmp_path, capsys, flags, words):
    for command in (["sample", str(models / "jigs")], ["compose", "--style", "jigs", "--models", str(models)]):
        assert cli.main([*command, *flags, "-o", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_generate_hands_the_controls_to_the_constraint(models, monkeypatch):
    loaded = bundle.load(models / "jigs")
    asked = []
    real = type(loaded.codec).constraint

    def recording(self, controls=None):
        asked.append(controls)
        return real(self, controls)

    monkeypatch.setattr(type(loaded.codec), "constraint", recording)
    generate(loaded.model, loaded.codec, n=2, seed=1, max_length=60, controls={"meter": "3/4"})
    generate(loaded.model, loaded.codec, n=2, seed=1, max_length=60)
    raw = generate(loaded.model, loaded.codec, n=2, seed=1, max_length=60, constrain=False)
    assert asked == [{"meter": "3/4"}, None] and len(raw) == 2
    with pytest.raises(TunesmithError, match="cannot be asked with --no-constraint"):
        generate(loaded.model, loaded.codec, n=1, max_length=60, controls={"meter": "3/4"}, constrain=False)


def test_the_codec_decides_what_key_means():
    events = SimpleNamespace(can_transpose=True, check_key=lambda key: None,
                             check_controls=lambda c: pytest.fail("an events model's --key is no control"))
    chars = SimpleNamespace(can_transpose=False, check_key=lambda key: pytest.fail("a text model's --key is a control"),
                            check_controls=lambda c: None)
    options = SampleOptions(key="D", meter="6/8")
    assert asked_controls(events, SampleOptions(key="D")) == {}
    assert asked_controls(chars, options) == {"meter": "6/8", "key": "D"}
    assert check_controls(chars, options) == {"meter": "6/8", "key": "D"}
    check_controls(events, SampleOptions(key="D"))


# ---- the web page ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(models):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from tunesmith.web import app as web

    with TestClient(web.create_app([str(models)], running=1, waiting=1, hosts=["testserver"], wav=False)) as client:
        yield client


def test_web_pickers_come_from_the_card(client, models):
    card = json.loads((models / "jigs" / "card.json").read_text())
    jigs = client.get("/api/models/jigs").json()
    assert jigs["controls"] == card["controls"] == KNOWN
    listed = {m["name"]: m for m in client.get("/api/models").json()["models"]}
    shipped = json.loads((registry.PACKAGE_MODELS / "folk" / "card.json").read_text())
    assert listed["folk"]["controls"] == shipped["controls"] and "6/8" in shipped["controls"]["meter"]
    page = client.get("/").text
    for name in ("meter", "key", "mode", "rhythm"):
        assert re.search(rf'<select id="{name}"[^>]*data-control="{name}"', page)
    script = client.get("/static/app.js").text
    assert 'const CONTROLS = ["meter", "key", "mode", "rhythm"]' in script and "m.controls" in script
    # a card's controls win over the codec's: the page offers what the card lists
    shutil.copytree(models / "jigs", models / "narrow")
    card["controls"] = {"meter": {"6/8": 6}}
    (models / "narrow" / "card.json").write_text(json.dumps(card))
    assert client.get("/api/models/narrow").json()["controls"] == {"meter": {"6/8": 6}}
    shutil.rmtree(models / "narrow")


def test_web_forces_and_refuses_controls(client):
    bad = client.post("/api/compose", json={"model": "jigs", "meter": "5/4"})
    assert bad.status_code == 422
    assert bad.json()["detail"] == "this model knows no meter '5/4'; it knows: 3/4 (6), 4/4 (6), 6/8 (6)"
    answer = client.post("/api/compose", json={"model": "jigs", "meter": "6/8", "rhythm": "jig", "seed": 4,
                                               "length": 120, "checked": False})
    assert answer.status_code == 200, answer.text
    text = answer.json()["pieces"][0]["text"]
    assert "\nM:6/8\n" in text and "\nR:jig\n" in text
