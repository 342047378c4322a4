"""The composer web app: its JSON API (FastAPI's TestClient) and the page in headless Chromium."""

import base64
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from tunesmith import cli, log, render  # noqa: E402
from tunesmith.train import TrainConfig, train  # noqa: E402
from tunesmith.web import app as web  # noqa: E402

from test_events import write_score  # noqa: E402
from test_train_sample import TINY, folk_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# The tiny model writes noise after a few steps of training. Its pieces start with two bars of music
# and end in the title field that follows: whatever the model adds is a title, every renderer reads it.
PRIMER = "X:1\nM:4/4\nL:1/8\nK:G\nGABc dedB|A2FA dAFA|\nT:"
QUICK = {"model": "tiny", "primer": PRIMER, "length": len(PRIMER) + 1, "seed": 1}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A folder of two tiny models: 'tiny' (ABC text) and 'duo' (note events, styles bach and chopin)."""
    import torch

    tmp = tmp_path_factory.mktemp("web")
    was, threads = log.is_quiet(), torch.get_num_threads()
    log.set_quiet(True)
    torch.set_num_threads(1)     # tiny models: one thread is fastest, and many times so on a busy machine
    train(TrainConfig(corpus=[str(folk_corpus(tmp))], out=str(tmp / "run"), steps=10, copy_index=False, **TINY))
    for style, notes in [("bach", ["C4", "D4", "E4", "F4"]), ("chopin", ["A4", "G#4", "A4", "C5"])]:
        (tmp / "scores" / style).mkdir(parents=True)
        for i in range(3):
            write_score(tmp / "scores" / style / f"{i}.musicxml", [(n, 1) for n in notes[i:]] + [("C4", 2)])
    # unk_min_count=1: in a corpus this small every event is rare, and the primer's must stay known
    train(TrainConfig(corpus=[str(tmp / "scores")], out=str(tmp / "events"), steps=10, copy_index=False,
                      valid_fraction=0, unk_min_count=1, **dict(TINY, batch_size=2)))
    log.set_quiet(was)
    torch.set_num_threads(threads)
    shutil.copytree(tmp / "run" / "best", tmp / "models" / "tiny")
    shutil.copytree(tmp / "events" / "last", tmp / "models" / "duo")
    return tmp / "models"


@pytest.fixture(scope="module")
def client(models):
    with TestClient(web.create_app([str(models)], running=1, waiting=1, hosts=["testserver"])) as client:
        yield client


def test_models_and_the_page(client):
    listed = client.get("/api/models").json()
    tiny = next(m for m in listed["models"] if m["name"] == "tiny")
    assert tiny["format"] == "abc" and tiny["corpus"] == "book.abc" and tiny["primer"] == "text"
    assert tiny["defaults"]["checked"] is True and listed["limits"]["count"] == web.MAX_COUNT
    # the page starts on compose's default model, shipped in the package
    assert listed["default"] == "folk" and "folk" in {m["name"] for m in listed["models"]}
    duo = client.get("/api/models/duo").json()
    assert duo["kind"] == "events" and duo["styles"] == ["bach", "chopin"] and duo["primer"] == "file"
    missing = client.get("/api/models/jigs")
    assert missing.status_code == 404
    assert re.search(r"no model called 'jigs'; known models: .*tiny", missing.json()["detail"])

    page = client.get("/")
    assert page.status_code == 200 and 'id="compose"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # everything the page loads ships in the package: no address off this server
    for f in web.STATIC.iterdir():
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", f.read_text()), f"{f.name} loads from elsewhere"
        assert client.get(f"/static/{f.name}").status_code == 200
    spec = client.get("/api/openapi.json").json()
    assert {"/api/compose", "/api/models", "/api/pieces/{piece_id}/{fmt}"} <= set(spec["paths"])
    assert client.get("/api/docs").status_code == 200


@pytest.mark.parametrize("body, status, words", [
    ({"temperature": 5}, 422, "temperature: Input should be less than or equal to 2"),
    ({"temperature": -0.5}, 422, "temperature"),
    ({"length": 3}, 422, "length: Input should be greater than or equal to 16"),
    ({"length": 10**6}, 422, "length"),
    ({"count": 0}, 422, "count"),
    ({"count": 99}, 422, "count: Input should be less than or equal to 4"),
    ({"seed": -1}, 422, "seed"),
    ({"primer": "A" * 2001}, 422, "primer: String should have at most 2000 characters"),
    ({"loudness": 11}, 422, "loudness: Extra inputs are not permitted"),
    ({"model": "jigs"}, 404, "no model called 'jigs'; known models: "),
    ({"model": "../tiny"}, 404, "no model called '../tiny'"),
    ({"style": "reels"}, 404, "has no style 'reels'; its styles: none"),
    ({"model": "duo", "style": "mozart"}, 404, "has no style 'mozart'; its styles: bach, chopin"),
    ({"primer": "\u00e9"}, 400, "the primer has a character this model never saw"),
    ({"primer": PRIMER, "length": 30}, 422, "tokens long: length must be more than that, not 30"),
    ({"primer_file": {"data": "TVRoZA=="}}, 400, "not a MIDI or MusicXML file"),
    ({"model": "duo", "primer_file": {"data": "not base64!"}}, 400, "primer_file.data is not base64"),
    ({"model": "duo", "primer_file": {"data": base64.b64encode(b"hello").decode()}}, 400,
     "neither MIDI nor MusicXML"),
    ({"model": "duo", "primer_file": {"data": base64.b64encode(b"MThd" + bytes(300_000)).decode()}}, 413,
     "the limit is 256 KB"),
])
def test_bad_requests_are_4xx_naming_the_problem(client, body, status, words):
    answer = client.post("/api/compose", json={"model": "tiny", **body})
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]


def test_bodies_that_are_not_requests(client):
    assert client.post("/api/compose", content=b"{", headers={"content-type": "application/json"}).status_code == 422
    nan = client.post("/api/compose", content=b'{"model": "tiny", "temperature": NaN}',
                      headers={"content-type": "application/json"})
    assert nan.status_code == 422 and "temperature" in nan.json()["detail"]
    big = client.post("/api/compose", content=b" " * (web.MAX_BODY + 1), headers={"content-type": "application/json"})
    assert big.status_code == 413 and "larger than 512 KB" in big.json()["detail"]


def test_compose_and_download_every_format(client):
    answer = client.post("/api/compose", json={**QUICK, "count": 2})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["seed"] == 1 and len(result["pieces"]) == 2
    piece = result["pieces"][0]
    assert piece["text"].startswith("X:1\nT:tunesmith 1\nM:4/4") and "A2FA dAFA|\nT:" in piece["text"]
    assert piece["source_format"] == "abc"
    assert piece["pages"] >= 1 and piece["passed"] is True
    files = {fmt: client.get(url) for fmt, url in piece["files"].items()}
    assert files["source"].text == piece["text"] and files["source"].headers["content-type"].startswith("text/vnd.abc")
    assert files["midi"].content[:4] == b"MThd" and "tiny-" in files["midi"].headers["content-disposition"]
    assert b"<score-partwise" in files["musicxml"].content[:2000]
    assert files["svg"].content.lstrip().startswith(b"<svg") and b"<script" not in files["svg"].content
    if "wav" in files:
        assert files["wav"].content[:4] == b"RIFF" and piece["audio"] == "wav"
    else:
        assert piece["audio"] == "midi" and piece["errors"]["wav"]
    assert client.get(f"/api/pieces/{piece['id']}").json()["id"] == piece["id"]
    # the same seed gives the same pieces
    sampled = [client.post("/api/compose", json={**QUICK, "checked": False, "count": 2, "seed": seed}).json()
               for seed in (5, 5, 6)]
    texts = [[p["text"] for p in s["pieces"]] for s in sampled]
    assert texts[0] == texts[1] != texts[2] and sampled[0]["pieces"][0]["id"] != sampled[1]["pieces"][0]["id"]


def test_malformed_music_is_an_error_for_that_piece(client):
    # no L: and no K: before the notes: the model's grammar cannot follow it, which is a clear 400
    answer = client.post("/api/compose", json={**QUICK, "primer": "X:1\nT:A\nf\n", "length": 16, "checked": False})
    assert answer.status_code == 400 and "grammar" in answer.json()["detail"], answer.text
    assert client.get("/api/health").json()["status"] == "ok"
    # under the grammar even the tiny model's 40-character piece passes the check, in one round
    checked = client.post("/api/compose", json={"model": "tiny", "length": 40, "seed": 2}).json()
    assert checked["pieces"][0]["passed"] is True and checked["failed"] == 0


def test_requests_never_name_files(client, models):
    piece = client.post("/api/compose", json=QUICK).json()["pieces"][0]
    pid = piece["id"]
    root = str(client.app.state.composer.store.root)
    for url in ["/api/pieces/..%2F..%2Fetc%2Fpasswd/midi", "/api/pieces/../../etc/passwd",
                f"/api/pieces/{pid}/..%2F..%2F..%2Fapp.py", f"/api/pieces/{pid}/py", f"/api/pieces/{pid}/svg?page=9",
                "/api/pieces/%2e%2e/source", "/static/..%2Fapp.py", "/static/../app.py", "/api/models/..%2Ftiny"]:
        answer = client.get(url)
        assert answer.status_code in (404, 422), url
        assert root not in answer.text and str(models) not in answer.text
    assert "the formats are source, midi, musicxml, svg, wav" in client.get(f"/api/pieces/{pid}/py").json()["detail"]
    assert client.get(f"/api/pieces/{pid}/svg?page=0").status_code == 422


def test_pieces_kept_are_bounded(models):
    with TestClient(web.create_app([str(models)], keep=2, wav=False, hosts=["testserver"])) as small:
        ids = [small.post("/api/compose", json=QUICK).json()["pieces"][0]["id"] for _ in range(3)]
        assert small.get(f"/api/pieces/{ids[0]}").status_code == 404
        assert all(small.get(f"/api/pieces/{i}").status_code == 200 for i in ids[1:])
        store = small.app.state.composer.store
        assert len(list(store.root.iterdir())) == 2
        # WAV switched off: the page synthesizes the MIDI
        last = small.get(f"/api/pieces/{ids[-1]}").json()
        assert last["audio"] == "midi" and "switched off" in last["errors"]["wav"]
    assert not store._root.exists()


def test_over_capacity_is_429_and_too_slow_is_503(client):
    composer = client.app.state.composer
    gate = composer.gate
    assert gate.try_admit() and gate.try_admit() and not gate.try_admit()     # 1 running + 1 waiting
    try:
        busy = client.post("/api/compose", json=QUICK)
        assert busy.status_code == 429 and "busy" in busy.json()["detail"] and busy.headers["retry-after"]
    finally:
        gate.release()
        gate.release()
    timeout, composer.timeout = composer.timeout, 0.001
    try:
        slow = client.post("/api/compose", json=QUICK)
        assert slow.status_code == 503 and "longer than 0.001 s" in slow.json()["detail"]
    finally:
        composer.timeout = timeout
    deadline = time.monotonic() + 30      # its thread finishes, then its place is free again
    while gate.admitted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gate.admitted == 0 and client.post("/api/compose", json=QUICK).status_code == 200


def test_event_model_styles_and_a_score_primer(client, models, tmp_path):
    answer = client.post("/api/compose", json={"model": "duo", "style": "chopin", "length": 30, "seed": 3,
                                               "checked": False, "count": 2})
    assert answer.status_code == 200, answer.text
    pieces = answer.json()["pieces"]
    assert [p["style"] for p in pieces] == ["chopin", "chopin"] and pieces[0]["source_format"] == "musicxml"
    assert client.get(pieces[0]["files"]["source"]).content.lstrip().startswith(b"<?xml")
    # a MusicXML file starts the pieces: its first notes come first
    score = write_score(tmp_path / "primer.musicxml", [("D4", 1), ("E4", 1), ("F4", 1), ("C4", 2)])
    primed = client.post("/api/compose", json={
        "model": "duo", "style": "bach", "length": 30, "seed": 3, "checked": False,
        "primer_file": {"name": "primer.musicxml", "data": base64.b64encode(score.read_bytes()).decode()}})
    assert primed.status_code == 200, primed.text
    from music21 import converter

    source = client.get(primed.json()["pieces"][0]["files"]["source"]).text   # capped pieces' mark included
    notes = [n.pitch.nameWithOctave for n in converter.parse(source, format="musicxml").flatten().notes][:4]
    assert notes == ["D4", "E4", "F4", "C4"]
    # notes the model never saw are refused, saying so
    odd = write_score(tmp_path / "odd.mid", [("C#6", 0.75)], fmt="midi")
    refused = client.post("/api/compose", json={
        "model": "duo", "primer_file": {"data": base64.b64encode(odd.read_bytes()).decode()}})
    assert refused.status_code == 400 and "this model never saw" in refused.json()["detail"]


def test_serve_warns_off_loopback(monkeypatch, capsys):
    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(kw))
    assert web.is_loopback("127.0.0.1") and web.is_loopback("::1") and web.is_loopback("localhost")
    assert not web.is_loopback("0.0.0.0") and not web.is_loopback("example.org")
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert "warning: serving on 0.0.0.0" in capsys.readouterr().err
    assert served["host"] == "0.0.0.0" and served["port"] == 8123 and "reload" not in served
    assert cli.main(["serve"]) == 0
    assert "warning" not in capsys.readouterr().err and served["host"] == "127.0.0.1"
    assert cli.main(["serve", "--port", "0"]) == 2


# ---- the page in a real browser ----------------------------------------------------------------

def _chromium_missing() -> str | None:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        return (f"needs Debian's chromium ({CHROMIUM}) and chromium-driver ({CHROMEDRIVER}); "
                f"scripts/setup.sh installs them as root")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install -e '.[dev]')"
    return None


class Server:
    """The app under uvicorn on a free loopback port, in a thread."""

    def __init__(self, app):
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, app, timeout: float = 60) -> None:
        """Until the render workers have imported music21 and Verovio (what a server that has been up
        a few seconds has done)."""
        deadline = time.monotonic() + timeout
        while not app.state.composer.workers.ready and time.monotonic() < deadline:
            time.sleep(0.05)

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)


def chrome(downloads: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1100", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


def compose_in_browser(driver, base: str, model: str, primer: str | None, length: int | None,
                       checked: bool, timeout: float = 120) -> float:
    """Open the page, pick `model`, press Compose; seconds from the press to sheet music on screen."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "/")
    wait = WebDriverWait(driver, 30)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"#model option[value='{model}']")))
    Select(driver.find_element(By.ID, "model")).select_by_value(model)
    if primer is not None:
        box = driver.find_element(By.ID, "primer")
        box.clear()
        box.send_keys(primer)
    if length is not None:
        driver.execute_script("document.getElementById('length').value = arguments[0]", length)
    driver.execute_script("document.getElementById('seed').value = '1';"
                          "document.getElementById('checked').checked = arguments[0]", checked)
    # note the busy state when it comes, however briefly
    driver.execute_script("window.sawBusy = false; new MutationObserver(() => {"
                          "  if (document.body.classList.contains('busy') &&"
                          "      document.getElementById('compose').disabled) window.sawBusy = true;"
                          "}).observe(document.body, {attributes: true, subtree: true});")
    started = time.perf_counter()
    driver.find_element(By.ID, "compose").click()
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "#result .piece .sheet svg")))
    seconds = time.perf_counter() - started
    assert driver.execute_script("return window.sawBusy"), "no busy state while composing"
    return seconds


def audio_ready(driver, prefix: str = "") -> bool:
    return driver.execute_script(
        "const a = document.querySelector('#result .piece audio');"
        "return !!a && a.src.startsWith(arguments[0]) && a.readyState >= 1 && a.duration > 0 && !a.error;",
        prefix)


@pytest.mark.browser
def test_the_page_in_chromium(models, tmp_path, capsys):
    missing = _chromium_missing()
    if missing:
        pytest.skip(missing)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    app = web.create_app([str(models)])
    server = Server(app)
    with server as base:
        driver = chrome(downloads)
        server.wait_ready(app)
        try:
            seconds = compose_in_browser(driver, base, "tiny", PRIMER, QUICK["length"], checked=True)
            wait = WebDriverWait(driver, 30, poll_frequency=0.05)
            wait.until(lambda d: audio_ready(d, base if render.wav_missing() is None else "blob:"))
            assert driver.find_element(By.CSS_SELECTOR, "#result .piece h3").text == "tiny \u2014 piece 1"
            # the sheet music is on screen, cropped to the music
            box = driver.execute_script("const r = document.querySelector('.sheet svg').getBoundingClientRect();"
                                        "return [r.width, r.height];")
            assert box[0] > 300 and 20 < box[1] < 600, box
            ARTIFACTS.mkdir(exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "web-composer.png"))
            # "learn my tune first" is for a tune that is continued: open only with "continue my tune"
            adapt, going_on = driver.find_element(By.ID, "adapt"), driver.find_element(By.ID, "continuation")
            assert not going_on.is_selected() and not adapt.is_enabled()
            going_on.click()
            assert adapt.is_enabled()
            going_on.click()
            assert not adapt.is_enabled()

            # the MIDI download
            driver.find_element(By.CSS_SELECTOR, "#result a.download-midi").click()
            wait.until(lambda d: [p for p in downloads.iterdir() if p.suffix == ".mid"])
            midi = next(p for p in downloads.iterdir() if p.suffix == ".mid")
            wait.until(lambda d: midi.read_bytes()[:4] == b"MThd")

            # the browser's own synthesizer plays the MIDI (what the page does where WAV is not rendered)
            synth = driver.find_elements(By.CSS_SELECTOR, "#result button.synth")
            if synth:
                synth[0].click()
            wait.until(lambda d: audio_ready(d, "blob:"))

            # the session's list replays it
            replay = driver.find_element(By.CSS_SELECTOR, "#history button.replay")
            assert "tiny #1" in replay.text
            driver.execute_script("document.getElementById('result').replaceChildren()")
            replay.click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#result .piece .sheet svg"))
            # Harmonize under the piece: the four-voice chorale model writes parts under its tune
            assert driver.find_element(By.ID, "harmonize-row").is_displayed()
            driver.find_element(By.CSS_SELECTOR, "#result button.harmonize").click()
            wait.until(lambda d: "Harmonized" in d.find_element(By.ID, "status").text
                       or "melody" in d.find_element(By.ID, "status").text)
            if "Harmonized" in driver.find_element(By.ID, "status").text:
                assert driver.find_element(By.CSS_SELECTOR, "#result .piece h3").text == "chorale \u2014 piece 1"
                wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#result .piece .sheet svg"))
            # a note-event model with styles: a style picker, and a score file as its primer
            Select(driver.find_element(By.ID, "model")).select_by_value("duo")
            assert driver.find_element(By.ID, "primer-file").is_displayed()
            assert not driver.find_element(By.ID, "primer").is_displayed()
            styles = [o.get_attribute("value") for o in Select(driver.find_element(By.ID, "style")).options]
            assert styles == ["", "bach", "chopin"] and driver.find_element(By.ID, "style").is_displayed()
            # the API's reference page, written from openapi.json without any outside script
            driver.get(base + "/api/docs")
            wait.until(lambda d: "POST /api/compose" in d.find_element(By.ID, "docs").text)
            severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not severe, severe
        finally:
            driver.quit()
    with capsys.disabled():
        print(f"\n[web] Compose pressed -> sheet music on screen: {seconds:.2f} s (tiny model, 1 piece, WAV "
              f"{'rendered' if render.wav_missing() is None else 'synthesized'}); screenshot "
              f"{(ARTIFACTS / 'web-composer.png').relative_to(ROOT)}")


def test_harmonize_a_composed_tune_or_a_melody_file(client):
    """The shipped four-voice chorale model writes parts under a folk tune just composed, or under a
    melody file sent; the melody stays note for note (the piece's 'passed')."""
    chorale = client.get("/api/models/chorale").json()
    assert chorale["voices"] is True and client.get("/api/models/tiny").json()["voices"] is False
    tune = client.post("/api/compose", json=dict(QUICK, count=1)).json()["pieces"][0]
    melody = "X:1\nT:M\nM:4/4\nL:1/4\nK:D\nD F A d | c B A2 | G E F D | D4 |]\n"
    for body in ({"piece_id": tune["id"], "seed": 2},
                 {"melody_file": {"name": "m.abc", "data": base64.b64encode(melody.encode()).decode()}, "seed": 3,
                  "voice_leading": "strict"}):
        answer = client.post("/api/harmonize", json=body)
        if "piece_id" in body and answer.status_code == 400:      # the tiny model's tune may be no melody
            assert "melody" in answer.json()["detail"]
            continue
        assert answer.status_code == 200, answer.text
        [piece] = answer.json()["pieces"]
        assert piece["model"] == "chorale" and piece["passed"] is True
        assert {"musicxml", "midi"} <= set(piece["files"]) and piece["pages"] >= 1
        xml = client.get(piece["files"]["musicxml"]).text
        assert xml.count("<score-part ") == 4 and "<part-name>Bass</part-name>" in xml
    for body, status, words in [
            ({"model": "tiny", "piece_id": tune["id"]}, 400, "does not write voices"),
            ({"piece_id": "0" * 16}, 404, "no piece"),
            ({}, 400, "piece_id"),
            ({"melody_file": {"data": "not base64!"}}, 400, "melody_file.data is not base64"),
            ({"melody_file": {"data": base64.b64encode(b"hello").decode()}}, 400, "neither MIDI"),
            ({"model": "nothing"}, 404, "no model called"),
            ({"melody_file": {"name": "m.abc", "data": base64.b64encode(melody.encode()).decode()},
              "voice_leading": "loose"}, 400, "voice_leading must be strict or free")]:
        answer = client.post("/api/harmonize", json=body)
        assert answer.status_code == status and words in answer.json()["detail"], (body, answer.text)
