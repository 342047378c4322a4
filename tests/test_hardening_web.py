"""The web app answers only the hosts it was started for, lists damaged models with their problem,
and gives every error answer, 500 included, the security headers (issue 18, items 3 and 4)."""

import json
import math
import shutil

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from tunesmith import cli, registry  # noqa: E402
from tunesmith.web import app as web  # noqa: E402


@pytest.fixture
def models(tmp_path, monkeypatch):
    """A folder of copies of the shipped folk model: one with its card as shipped, and others whose
    card is damaged (NaN, infinities, a list, fields of the wrong kind)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    shipped = registry.PACKAGE_MODELS / "folk"
    card = json.loads((shipped / "card.json").read_text())
    cards = {
        "good": json.dumps(card),
        "nan": json.dumps(card).replace(json.dumps(card["val_bits"]), "NaN"),
        "inf": json.dumps(dict(card, judged={"composed": {"valid": math.inf}, "compose_seconds_median": -math.inf})),
        "listed": "[1, 2, 3]",
        "odd": json.dumps(dict(card, compose="hot", styles=7, judged=[1], corpus={"a": 1}, codec=["x"])),
    }
    assert "NaN" in cards["nan"] and "Infinity" in cards["inf"]
    for name, text in cards.items():
        shutil.copytree(shipped, tmp_path / "models" / name)
        (tmp_path / "models" / name / "card.json").write_text(text)
    return tmp_path / "models"


def assert_secured(answer):
    for name, value in web.SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, (answer.status_code, name)


def test_a_host_not_served_is_refused_before_any_work(models, monkeypatch):
    app = web.create_app([str(models)])
    looked = []
    monkeypatch.setattr(app.state.composer.bundles, "entries", lambda: looked.append(1) or [])
    client = TestClient(app, raise_server_exceptions=False)
    for host in ("evil.example", "evil.example:8000", "testserver", "127.0.0.2", "localhost.evil.example"):
        for answer in (client.get("/api/models", headers={"host": host}),
                       client.post("/api/compose", headers={"host": host}, json={"model": "good"}),
                       client.get("/", headers={"host": host})):
            assert answer.status_code == 400, (host, answer.status_code)
            assert "answers requests addressed to 127.0.0.1, ::1, localhost" in answer.json()["detail"]
            assert_secured(answer)
    assert not looked and app.state.composer.gate.admitted == 0
    # this machine's names, with or without a port, in any case
    for host in ("localhost", "LocalHost:8000", "127.0.0.1", "127.0.0.1:8000", "[::1]:8000", "[::1]", "::1"):
        answer = client.get("/api/health", headers={"host": host})
        assert answer.status_code == 200, host
        assert_secured(answer)


def test_allowed_hosts_come_from_host_and_allow_host(models, monkeypatch):
    client = TestClient(web.create_app([str(models)], hosts=["Tunes.Example", "192.168.1.5"]))
    for host, status in (("tunes.example", 200), ("tunes.example:8000", 200), ("192.168.1.5:80", 200),
                         ("localhost:8000", 200), ("evil.example", 400), ("testserver", 400)):
        assert client.get("/api/health", headers={"host": host}).status_code == status, host
    # serve's hosts: --host itself (unless it is every address) and each --allow-host
    assert web.served_hosts("127.0.0.1") == ["127.0.0.1"]
    assert web.served_hosts("0.0.0.0", ["tunes.example"]) == ["tunes.example"]
    assert web.served_hosts("::") == [] and web.served_hosts("192.168.1.5", ["a"]) == ["192.168.1.5", "a"]
    served = {}
    monkeypatch.setattr(web, "serve", lambda *args: served.setdefault("args", args))
    assert cli.main(["serve", "--host", "0.0.0.0", "--allow-host", "tunes.example", "--allow-host", "10.0.0.2"]) == 0
    assert served["args"] == ("0.0.0.0", 8000, None, ["tunes.example", "10.0.0.2"])
    assert cli.main(["serve", "--allow-host", "http://x/"]) == 2


def test_a_damaged_card_is_listed_with_its_problem(models):
    client = TestClient(web.create_app([str(models)]), base_url="http://localhost",
                        raise_server_exceptions=False)
    answer = client.get("/api/models")
    assert answer.status_code == 200, answer.text
    assert_secured(answer)
    strict = json.loads(answer.text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    listed = {m["name"]: m for m in strict["models"]}
    assert {"good", "nan", "inf", "listed", "odd", "folk"} <= set(listed)    # the shipped ones still listed
    assert listed["good"]["problem"] is None and listed["good"]["val_bits"] == listed["folk"]["val_bits"]
    assert listed["nan"]["problem"] == "card.json: val_bits is NaN, not a number"
    assert listed["nan"]["val_bits"] is None and listed["nan"]["format"] == "abc" and listed["nan"]["pieces"] == 3054
    assert listed["inf"]["problem"] == "card.json: judged.composed.valid is Infinity, not a number"
    assert listed["inf"]["compose_seconds"] is None and listed["inf"]["val_bits"] == listed["folk"]["val_bits"]
    assert listed["listed"]["problem"] == "card.json is not a JSON object"
    assert listed["odd"]["problem"] is None or "card.json" in listed["odd"]["problem"]
    for name in ("nan", "inf", "listed", "odd"):
        one = client.get(f"/api/models/{name}")
        assert one.status_code == 200 and one.json()["problem"] == listed[name]["problem"], name
        assert_secured(one)
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in listed["nan"]["defaults"].values()
               if not isinstance(v, (bool, str, type(None))))


def test_every_error_answer_has_the_security_headers_and_no_traceback(models, monkeypatch):
    app = web.create_app([str(models)])

    def broken():
        raise RuntimeError("secret detail of /srv/models")

    monkeypatch.setattr(app.state.composer.bundles, "entries", broken)
    client = TestClient(app, base_url="http://localhost", raise_server_exceptions=False)
    answer = client.get("/api/models")
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
    assert_secured(answer)
    detail = answer.json()["detail"]
    assert "internal error" in detail and "Traceback" not in answer.text and "secret" not in answer.text
    # and the others: 404, 422, 413, 411
    for answer in (client.get("/api/pieces/nope"), client.get("/api/pieces/x/svg?page=0"),
                   client.post("/api/compose", content=b"x" * (web.MAX_BODY + 1),
                               headers={"content-type": "application/json"}),
                   client.get("/static/nothing.js")):
        assert answer.status_code in (404, 413, 422), answer.status_code
        assert_secured(answer)
        assert "detail" in answer.json()
