"""`tunesmith continue FILE` and the web app's continuation (issue 17, part 5): the model continues a
person's own tune; the output starts with their exact text."""

import re

import pytest

from tunesmith import TunesmithError, bundle, cli, continuation
from tunesmith.codecs.chars import CharCodec
from tunesmith.sample import Sampled

from test_controls import tiny_models

# cut in the middle of a bar, without a final newline; a source line with an address reading drops
MINE = "X: 7\nT:Tune 4\nS:me, me@example.org\nR:jig\nM:6/8\nL:1/8\nK:D\nABA d2e|fed e2d|AB"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models(tmp_path_factory.mktemp("continue"))


def test_the_tune_is_primed_in_training_shape(models):
    codec = bundle.load(models / "jigs").codec
    tune = continuation.prepare(codec, MINE)
    assert tune.text == MINE
    assert tune.primer == "X:1\nT:Tune 4\nR:jig\nM:6/8\nL:1/8\nK:D\nABA d2e|fed e2d|AB"
    ended = continuation.prepare(codec, MINE + "|\n\n\n")      # blank lines would end the tune
    assert ended.text == MINE + "|\n" and ended.primer.endswith("AB|\n")
    header_only = continuation.prepare(codec, "X:3\nM:6/8\nK:D\n")
    assert header_only.primer == "X:1\nM:6/8\nL:1/8\nK:D\n"


def test_continue_writes_the_users_text_then_the_continuation(models, tmp_path, capsys):
    path = tmp_path / "mine.abc"
    path.write_text(MINE)
    out = tmp_path / "out"
    status = cli.main(["-q", "continue", str(path), "-m", str(models / "jigs"), "-n", "3", "--seed", "5",
                       "--max-length", "200", "-o", str(out)])
    files = sorted(out.glob("mine-continued-*.abc"))
    assert [f.name for f in files] == [f"mine-continued-00{i}.abc" for i in (1, 2, 3)]
    texts = [f.read_text() for f in files]
    assert all(t.startswith(MINE) and len(t) > len(MINE) for t in texts)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(re.match(r".*mine-continued-00\d\.abc: (passes|fails) the check", ln)
                                   for ln in lines)
    assert status == (0 if all("passes" in ln for ln in lines) else 1)


@pytest.mark.parametrize("text, words", [
    (MINE + "ö", "mine.abc has a character this model never saw: 'ö'"),
    ("T:no key\nABC|", "mine.abc cannot be continued: no K: (key) field"),
    ("", "mine.abc is empty"),
])
def test_a_tune_the_model_cannot_continue_is_one_line(models, tmp_path, capsys, text, words):
    path = tmp_path / "mine.abc"
    path.write_text(text)
    assert cli.main(["continue", str(path), "-m", str(models / "jigs"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_the_grammar_that_cannot_follow_the_tune_is_named(models, monkeypatch, tmp_path, capsys):
    class Refusing:
        def start(self, rows, prefix):
            raise TunesmithError("no symbol 'Q' may come here")

    codec = bundle.load(models / "jigs").codec
    monkeypatch.setattr(CharCodec, "constraint", lambda self, controls=None: Refusing())
    with pytest.raises(TunesmithError, match="the model's grammar cannot follow mine.abc: no symbol 'Q'"):
        continuation.prepare(codec, MINE, "mine.abc")
    continuation.prepare(codec, MINE, "mine.abc", constrain=False)     # --no-constraint: no grammar asked
    # the command line names the way out
    path = tmp_path / "mine.abc"
    path.write_text(MINE)
    assert cli.main(["continue", str(path), "-m", str(models / "jigs"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot follow mine.abc" in err and "--no-constraint continues it" in err and err.count("\n") == 1


def test_a_kern_file_for_an_abc_model_and_an_ended_kern_tune_are_refused(models, tmp_path, capsys):
    path = tmp_path / "mine.krn"
    path.write_text("**kern\n*M2/4\n4c\n4d\n=\n")
    assert cli.main(["continue", str(path), "-m", str(models / "jigs")]) == 2
    assert "mine.krn is **kern; the model" in capsys.readouterr().err
    kern_codec = CharCodec("kern", list("\t\n*=@.248M/cdefg[]k-:"))
    with pytest.raises(TunesmithError, match=r"ends with the spines' terminators \(\*-\)"):
        continuation.prepare(kern_codec, "**kern\n*M2/4\n4c\n4d\n==\n*-\n", constrain=False)


def test_a_kern_continuation_is_written_as_kern():
    codec = CharCodec("kern", list("\t\n*=@.248M/cdefg[]k-:"))
    mine = "**kern\t**kern\n*M2/4\t*M2/4\n4c\t4e\n4d\t4f\n=1\t=1\n"
    tune = continuation.prepare(codec, mine, constrain=False)
    assert tune.primer == "*M2/4\t*M2/4\n4c\t4e\n4d\t4f\n@\n"
    added = "4e\t4g\n4f\t4g\n@\n2c\t2e\n@\n"
    ids = codec.encode_primer(tune.primer).tolist()[1:] + codec.encode_primer(added).tolist()[1:]
    written = tune.finisher(codec)(Sampled(ids, codec.decode(ids), True, primed=len(tune.primer)), 1)
    assert written.startswith(mine)
    assert written[len(mine):] == "4e\t4g\n4f\t4g\n=2\t=2\n2c\t2e\n==\t==\n*-\t*-\n"


def test_the_web_app_continues_a_pasted_or_opened_tune(models):
    pytest.importorskip("fastapi")
    import base64

    from fastapi.testclient import TestClient

    from tunesmith.web import app as web

    with TestClient(web.create_app([str(models)], running=1, waiting=1, hosts=["testserver"], wav=False)) as client:
        request = {"model": "jigs", "primer": MINE, "continuation": True, "seed": 3, "length": 160, "checked": False}
        pasted = client.post("/api/compose", json=request)
        assert pasted.status_code == 200, pasted.text
        assert pasted.json()["pieces"][0]["text"].startswith(MINE)
        opened = client.post("/api/compose", json={**request, "primer": "", "continuation": False,
                                                   "primer_file": {"name": "mine.abc",
                                                                   "data": base64.b64encode(MINE.encode()).decode()}})
        assert opened.status_code == 200, opened.text
        assert opened.json()["pieces"][0]["text"].startswith(MINE)
        bad = client.post("/api/compose", json={**request, "primer": "T:no key\nABC|"})
        assert bad.status_code == 400 and "the primer cannot be continued: no K: (key) field" in bad.json()["detail"]
