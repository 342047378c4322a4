"""The composer web app: one page, and the JSON API it uses.

    GET  /                         the page (static/, shipped in the package: no network needed)
    GET  /api/models               the models found by name (registry), with their cards
    GET  /api/models/{name}        one of them
    POST /api/compose              compose pieces; answers each piece's id and files
    GET  /api/pieces/{id}          one composed piece
    GET  /api/pieces/{id}/{format} its file: source, midi, musicxml, svg (?page=N), wav
    GET  /api/health               composes running and waiting, pieces kept
    GET  /api/openapi.json, /api/docs

Safe by construction: models come from the registry by name and pieces from
a table of ids the server made, so nothing a request says becomes a file
path. Parameters have bounds; a wrong one is a 4xx answer that names it.
Composing runs in a thread pool of `running` threads, each with its own
render worker process (checks and rendering happen there, so a piece that
crashes a renderer is an error for that piece); at most `waiting` more wait,
the rest get 429 at once. A compose that takes longer than `timeout` seconds
is answered 503 (its thread finishes in the background, holding its place).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import concurrent.futures
import contextlib
import ipaddress
import os
import queue
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from tunesmith import TunesmithError, __version__, log

STATIC = Path(__file__).resolve().parent / "static"

# bounds of what a request may ask
TEMPERATURE = (0.0, 2.0)
LENGTH = (16, 4000)          # tokens (characters for text models), primer included
MAX_COUNT = 4
PRIMER_CHARS = 2000
PRIMER_BYTES = 256 * 1024    # an uploaded MIDI or MusicXML primer
MAX_BODY = 512 * 1024        # any request body (a base64 primer file fits)
SEED_MAX = 2**31 - 1

# what a piece's files may be asked as: name -> (media type, file name suffix; None: the codec's)
FORMATS = {
    "source": (None, None),
    "midi": ("audio/midi", ".mid"),
    "musicxml": ("application/vnd.recordare.musicxml+xml", ".musicxml"),
    "svg": ("image/svg+xml", ".svg"),
    "wav": ("audio/wav", ".wav"),
}
SOURCE_TYPES = {".abc": "text/vnd.abc; charset=utf-8", ".krn": "text/x-kern; charset=utf-8",
                ".musicxml": "application/vnd.recordare.musicxml+xml"}
SOURCE_FORMATS = {".abc": "abc", ".krn": "kern", ".musicxml": "musicxml"}
TEXT_SHOWN = 20_000          # characters of a text piece sent with it (the page shows the source)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; media-src 'self' blob:; object-src 'none'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ApiError(Exception):
    """An answer other than 200, with a one-sentence reason."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


# library messages name command-line flags; the API's fields are named differently
_FLAGS = (("--max-length", "length"), ("--temperature", "temperature"), ("--style", "style"))


def _api_words(message: str) -> str:
    for flag, name in _FLAGS:
        message = message.replace(flag, name)
    return message


# ---- the API's shapes --------------------------------------------------------------------------

class PrimerFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=255, description="the file's name (only shown back)")
    data: str = Field(..., description=f"the file's bytes in base64: MIDI or MusicXML, at most "
                                       f"{PRIMER_BYTES // 1024} KB")


class ComposeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, max_length=100, description="a model's name from /api/models")
    style: str | None = Field(None, max_length=100, description="for a model trained on several styles")
    temperature: float | None = Field(None, ge=TEMPERATURE[0], le=TEMPERATURE[1],
                                      description="sampling temperature (default: the model card's)")
    length: int | None = Field(None, ge=LENGTH[0], le=LENGTH[1],
                               description="longest piece in tokens, primer included (default: the card's)")
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="random seed (default: a new one)")
    count: int = Field(1, ge=1, le=MAX_COUNT, description="how many pieces")
    primer: str = Field("", max_length=PRIMER_CHARS,
                        description="text every piece starts with (ABC or kern text; note-event words)")
    primer_file: PrimerFile | None = Field(None, description="note-event models: a score whose first notes "
                                                             "start every piece")
    checked: bool | None = Field(None, description="re-sample pieces that fail the check or copy the corpus "
                                                   "(default: the card's setting, on)")


class PieceOut(BaseModel):
    id: str
    model: str
    number: int
    seed: int
    style: str | None
    passed: bool | None = Field(description="passed the check and copy guard (None: not checked)")
    ended: bool = Field(description="the model ended it (False: cut at the length)")
    source_format: str
    files: dict[str, str] = Field(description="format -> URL, for the formats it has")
    pages: int = Field(description="pages of sheet music (svg?page=1..pages)")
    audio: str | None = Field(description="wav (rendered), or midi (synthesize it in the browser), or None")
    errors: dict[str, str] = Field(description="format -> why it could not be made")
    text: str | None = Field(description="the source text of text models (its start)")


class ComposeResponse(BaseModel):
    model: str
    seed: int
    seconds: float
    sampled: int
    failed: int
    pieces: list[PieceOut]


# ---- pieces ------------------------------------------------------------------------------------

@dataclass
class Piece:
    id: str
    model: str
    number: int
    seed: int
    style: str | None
    passed: bool | None
    ended: bool
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)     # source, midi, musicxml, wav
    pages: list[Path] = field(default_factory=list)          # svg
    errors: dict[str, str] = field(default_factory=dict)
    text: str | None = None

    @property
    def source_format(self) -> str:
        return SOURCE_FORMATS.get(self.files["source"].suffix, "text")

    def out(self) -> PieceOut:
        urls = {fmt: f"/api/pieces/{self.id}/{fmt}" for fmt in FORMATS if fmt in self.files}
        if self.pages:
            urls["svg"] = f"/api/pieces/{self.id}/svg"
        audio = "wav" if "wav" in self.files else ("midi" if "midi" in self.files else None)
        return PieceOut(id=self.id, model=self.model, number=self.number, seed=self.seed, style=self.style,
                        passed=self.passed, ended=self.ended, source_format=self.source_format, files=urls,
                        pages=len(self.pages), audio=audio, errors=self.errors, text=self.text)


class Store:
    """The pieces composed, at most `keep` (the oldest are dropped with their files), under a folder
    the server made."""

    def __init__(self, keep: int):
        self.keep = keep
        self._root: Path | None = None
        self._pieces: collections.OrderedDict[str, Piece] = collections.OrderedDict()
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        """The server's folder of pieces, made when first needed."""
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="tunesmith-web-"))
            return self._root

    def new_folder(self) -> Path:
        folder = self.root / secrets.token_hex(8)
        folder.mkdir()
        return folder

    def add(self, pieces: list[Piece]) -> None:
        with self._lock:
            for piece in pieces:
                self._pieces[piece.id] = piece
            dropped = []
            while len(self._pieces) > self.keep:
                dropped.append(self._pieces.popitem(last=False)[1])
            in_use = {p.folder for p in self._pieces.values()}
        for folder in {p.folder for p in dropped} - in_use:
            shutil.rmtree(folder, ignore_errors=True)

    def get(self, piece_id: str) -> Piece | None:
        with self._lock:
            return self._pieces.get(piece_id)

    def __len__(self) -> int:
        return len(self._pieces)

    def close(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)


# ---- models ------------------------------------------------------------------------------------

class Bundles:
    """Loaded bundles by name, the last few kept (loading takes 0.1-0.5 s); a bundle whose files
    changed is loaded again."""

    def __init__(self, extra: list[str] | None, device: str, keep: int = 4):
        self.extra = extra
        self.device = device
        self.keep = keep
        self._cache: collections.OrderedDict[str, tuple[tuple, object]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def entries(self) -> list:
        from tunesmith import registry

        return registry.models(self.extra)

    def entry(self, name: str):
        """The registry's entry called `name`; an unknown name is a 404 listing the known ones."""
        for e in self.entries():
            if e.name == name:
                return e
        from tunesmith import registry

        try:
            registry.find(name, self.extra)
        except TunesmithError as exc:
            raise ApiError(404, str(exc)) from None
        raise ApiError(404, f"no model called {name!r}")

    def load(self, name: str):
        from tunesmith import bundle

        path = self.entry(name).path
        try:
            stamp = (str(path), (path / "weights.safetensors").stat().st_mtime_ns)
        except OSError:
            stamp = (str(path), 0)
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and hit[0] == stamp:
                self._cache.move_to_end(name)
                return hit[1]
            try:
                loaded = bundle.load(path, self.device)
            except TunesmithError as exc:
                raise ApiError(500, f"the model {name!r} cannot be loaded: {exc}") from None
            self._cache[name] = (stamp, loaded)
            while len(self._cache) > self.keep:
                self._cache.popitem(last=False)
            return loaded


def _codec_facts(entry) -> tuple[str, list[str]]:
    """(codec kind, styles) of a registry entry: from its card, else its codec.json."""
    import json

    card = entry.card or {}
    kind, styles = card.get("codec"), card.get("styles")
    if kind not in ("chars", "events") or not isinstance(styles, list):
        try:
            codec = json.loads((entry.path / "codec.json").read_text(encoding="utf-8"))
            kind, styles = codec.get("kind"), codec.get("styles") or []
        except (OSError, ValueError, AttributeError):
            kind, styles = kind or "chars", styles or []
    return str(kind), [str(s) for s in styles]


def model_info(entry) -> dict:
    """What the page shows of a model: its name, card and the compose defaults it measured."""
    from tunesmith import compose

    card = entry.card or {}
    kind, styles = _codec_facts(entry)
    try:
        defaults = compose.card_defaults(card)
    except TunesmithError:
        defaults = compose.Options(valid_only=True)
    corpus = card.get("corpus")
    if isinstance(corpus, str) and "/" in corpus:     # a path on the machine it was trained on
        corpus = corpus.rstrip("/").rsplit("/", 1)[-1]
    judged = card.get("judged") if isinstance(card.get("judged"), dict) else {}
    composed = judged.get("composed") if isinstance(judged.get("composed"), dict) else {}
    return {
        "name": entry.name,
        "format": card.get("format", "events" if kind == "events" else "?"),
        "corpus": corpus,
        "pieces": card.get("pieces"),
        "description": card.get("description"),
        "kind": kind,
        "styles": styles,
        "source": entry.source,
        "problem": entry.problem,
        "primer": "file" if kind == "events" else "text",
        "defaults": {"temperature": defaults.temperature,
                     "length": max(LENGTH[0], min(defaults.max_length, LENGTH[1])),
                     "checked": defaults.valid_only, "primer": defaults.primer},
        "val_bits": card.get("val_bits"),
        "judged": {k: composed.get(k) for k in ("pieces", "valid", "copies") if k in composed} or None,
        "compose_seconds": judged.get("compose_seconds_median"),
    }


# ---- composing ---------------------------------------------------------------------------------

class Gate:
    """At most `running + waiting` composes admitted; the rest are turned away at once."""

    def __init__(self, running: int, waiting: int):
        self.running, self.waiting = running, waiting
        self.admitted = 0
        self.active = 0
        self._lock = threading.Lock()

    def try_admit(self) -> bool:
        with self._lock:
            if self.admitted >= self.running + self.waiting:
                return False
            self.admitted += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.admitted -= 1

    @contextlib.contextmanager
    def working(self):
        with self._lock:
            self.active += 1
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1


class Workers:
    """One render worker per composing thread, started at once (each imports music21 while the
    server starts), replaced by render.Worker itself when one crashes."""

    def __init__(self, count: int, timeout: float):
        from tunesmith import render

        self._all = [render.Worker(timeout) for _ in range(count)]
        self._free: queue.Queue = queue.Queue()
        for w in self._all:
            self._free.put(w)
        self._primer = None
        self._primer_lock = threading.Lock()
        self.timeout = timeout
        self.warmed = 0

    def start(self) -> None:
        """Start every worker, and have each engrave a tiny tune in the background (that imports
        music21 and Verovio there, a few seconds the first compose would otherwise wait)."""
        for w in self._all:
            w.start()
        for _ in self._all:
            threading.Thread(target=self._warm, daemon=True, name="warm-renderer").start()

    def _warm(self) -> None:
        from tunesmith import render

        with self.take() as worker, tempfile.TemporaryDirectory() as tmp:
            worker.run(render.Piece("warm", "abc", text="X:1\nL:1/4\nK:C\nCDEF|\n"), "svg", Path(tmp))
        with self._primer_lock:
            self.warmed += 1

    @property
    def ready(self) -> bool:
        """Whether every worker has engraved its first tune."""
        return self.warmed >= len(self._all)

    @contextlib.contextmanager
    def take(self):
        worker = self._free.get()
        try:
            yield worker
        finally:
            self._free.put(worker)

    def read_primer(self, path: Path, parts: str) -> dict:
        from tunesmith import render
        from tunesmith.web import primer

        with self._primer_lock:
            if self._primer is None:
                self._primer = render.Worker(self.timeout, job=primer.read_part)
            ok, value = self._primer.run(render.Piece(path.stem, "file", path=str(path)), parts, path.parent)
        if not ok:
            raise ApiError(400, f"the primer file cannot be read as a score: {value}")
        return value

    def close(self) -> None:
        for w in self._all + ([self._primer] if self._primer else []):
            w.close()


class Composer:
    """What the API does, apart from HTTP."""

    def __init__(self, extra: list[str] | None, device: str, running: int, waiting: int, timeout: float,
                 keep: int, wav: bool | None, render_timeout: float):
        from tunesmith import render

        self.bundles = Bundles(extra, device)
        self.store = Store(keep)
        self.gate = Gate(running, waiting)
        self.timeout = timeout
        self.workers = Workers(running, render_timeout)
        self.executor = concurrent.futures.ThreadPoolExecutor(running, thread_name_prefix="compose")
        self.wav_missing = render.wav_missing() if wav is not False else "WAV is switched off for this server"
        if wav and self.wav_missing:
            raise TunesmithError(self.wav_missing)
        self.device = device
        self.render_timeout = render_timeout

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.workers.close()
        self.store.close()

    def _options(self, loaded, req: ComposeRequest, primer_text: str | None):
        from tunesmith import compose

        try:
            options = compose.card_defaults(loaded.card)
        except TunesmithError as exc:
            raise ApiError(500, f"the model {req.model!r} has a broken card: {exc}") from None
        changes: dict = {"n": req.count, "seed": req.seed,
                         "max_length": req.length if req.length is not None
                         else max(LENGTH[0], min(options.max_length, LENGTH[1]))}
        if req.temperature is not None:
            changes["temperature"] = req.temperature
        if req.style is not None:
            changes["style"] = req.style
        if primer_text is not None:
            changes["primer"] = primer_text
        elif req.primer:
            changes["primer"] = req.primer.replace("\r\n", "\n")
        if req.checked is False:
            changes.update(valid_only=False, max_copy="off")
        elif req.checked:
            changes["valid_only"] = True
        return replace(options, **changes)

    def compose(self, req: ComposeRequest, primer_bytes: bytes | None, abandoned: threading.Event
                ) -> tuple[list[Piece], object, float]:
        """Runs in a composing thread: load, sample (checked in this thread's worker), write, render."""
        from tunesmith import compose, render, sample
        from tunesmith.web import primer

        started = time.perf_counter()
        with self.gate.working(), self.workers.take() as worker:
            loaded = self.bundles.load(req.model)
            codec = loaded.codec
            if req.style is not None and req.style not in codec.styles:
                known = ", ".join(codec.styles) if codec.styles else "none (it was trained on one corpus)"
                raise ApiError(404, f"the model {req.model!r} has no style {req.style!r}; its styles: {known}")
            primer_text = None
            if primer_bytes is not None:
                if codec.kind != "events":
                    raise ApiError(400, f"the model {req.model!r} writes {codec.format} text: its primer is "
                                        f"text (the 'primer' field), not a file")
                try:
                    suffix = primer.suffix_of(primer_bytes)
                except TunesmithError as exc:
                    raise ApiError(400, str(exc)) from None
                folder = self.store.new_folder()
                try:
                    path = folder / f"primer{suffix}"
                    path.write_bytes(primer_bytes)
                    part = self.workers.read_primer(path, codec.parts)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                primer_text = primer.words(codec, part)
            options = self._options(loaded, req, primer_text)
            try:
                compose.validate(loaded, options)
            except TunesmithError as exc:
                raise ApiError(422, _api_words(str(exc))) from None
            try:
                primed = len(codec.encode_primer(options.primer, options.style)) - 1
            except TunesmithError as exc:
                raise ApiError(400, _api_words(str(exc))) from None
            if primed >= options.max_length:
                raise ApiError(422, f"the primer is {primed} tokens long: length must be more than that, "
                                    f"not {options.max_length}")
            outcome = compose.run(loaded, options, self.device, worker)
            if abandoned.is_set():
                return [], outcome, 0.0
            folder = self.store.new_folder()
            formats = ["midi", "svg"] + (["musicxml"] if codec.kind != "events" else [])
            if self.wav_missing is None:
                formats.append("wav")
            try:
                paths = sample.write(outcome.pieces, codec, folder, stem=req.model)
                results = render.render(paths, formats, folder, timeout=self.render_timeout,
                                        show_progress=False, worker=worker)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        kept = len(outcome.pieces) - outcome.failed
        pieces = []
        for k, (path, sampled) in enumerate(zip(paths, outcome.pieces)):
            piece = Piece(secrets.token_hex(8), req.model, k + 1, outcome.seed, sampled.style,
                          (k < kept) if options.valid_only else None,
                          sampled.ended, folder, {"source": path})
            if codec.kind != "events":
                piece.text = path.read_text(encoding="utf-8", errors="replace")[:TEXT_SHOWN]
            result = next((r for r in results if r.piece == path.stem or r.piece.startswith(path.stem + "-")),
                          None)
            if result is None:
                piece.errors["render"] = "the renderer found no piece in it"
            else:
                for fmt, outputs in result.outputs.items():
                    if fmt == "svg":
                        piece.pages = list(outputs)
                    elif outputs:
                        piece.files[fmt] = outputs[0]
                piece.errors.update(result.errors)
            if codec.kind == "events":
                piece.files["musicxml"] = path
            if self.wav_missing is not None and "wav" not in piece.errors:
                piece.errors["wav"] = self.wav_missing
            pieces.append(piece)
        return pieces, outcome, time.perf_counter() - started


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        got = err.get("input")
        shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        msg = err.get("msg", "is not valid")
        parts.append(f"{where}: {msg}" + ("" if err.get("type") == "missing" else f" (got {shown})"))
    return "; ".join(parts)


# ---- the application ---------------------------------------------------------------------------

def create_app(models: list[str] | None = None, *, device: str = "cpu", running: int = 2, waiting: int = 2,
               timeout: float = 120.0, keep: int = 200, wav: bool | None = None,
               render_timeout: float = 30.0, threads: int | None = None) -> FastAPI:
    """The composer app. `models`: more folders to find models in (like --models; the registry's
    search path follows). `running` composes at once, `waiting` more queued, the rest answered 429;
    `timeout` seconds per compose (503 after); the last `keep` pieces are kept. `wav`: None renders
    WAV where FluidSynth is installed, False never (the page synthesizes the MIDI itself).
    `threads`: PyTorch's threads while the app runs (default: the CPU cores shared among the `running`
    composes; more threads than cores, as two composes of all cores each make, can be many times
    slower on CPU)."""
    for name, value, low in (("running", running, 1), ("waiting", waiting, 0), ("keep", keep, 1)):
        if value < low:
            raise TunesmithError(f"{name} must be at least {low}, not {value}")
    composer = Composer(list(models or []), device, running, waiting, timeout, keep, wav, render_timeout)
    threads = threads or max(1, (os.cpu_count() or 1) // running)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        import torch

        loop = asyncio.get_running_loop()
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        await loop.run_in_executor(None, composer.workers.start)
        try:
            yield
        finally:
            await loop.run_in_executor(None, composer.close)
            torch.set_num_threads(before)

    app = FastAPI(title="tunesmith composer", version=__version__, debug=False, lifespan=lifespan,
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None,
                  description="Compose pieces with tunesmith's models. The page at / uses only this API.")
    app.state.composer = composer

    @app.middleware("http")
    async def guard(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse({"detail": f"the request is larger than {MAX_BODY // 1024} KB"}, 413,
                                headers=SECURITY_HEADERS)
        if length is None and request.method == "POST" and request.headers.get("transfer-encoding"):
            return JSONResponse({"detail": "send the request with a Content-Length"}, 411, headers=SECURITY_HEADERS)
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return JSONResponse({"detail": exc.detail}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": _validation_message(exc), "errors": _plain(exc.errors())}, 422)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/api/docs", include_in_schema=False)
    async def docs():
        return FileResponse(STATIC / "docs.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/health", summary="Whether the server is up, and how busy")
    async def health():
        gate = composer.gate
        return {"status": "ok", "version": __version__, "renderers_ready": composer.workers.ready,
                "running": gate.active,
                "waiting": max(gate.admitted - gate.active, 0),
                "capacity": {"running": gate.running, "waiting": gate.waiting},
                "pieces": len(composer.store), "wav": composer.wav_missing is None,
                "wav_missing": composer.wav_missing}

    @app.get("/api/models", summary="The models found by name, with their cards")
    async def list_models():
        entries = await asyncio.get_running_loop().run_in_executor(None, composer.bundles.entries)
        from tunesmith.compose import DEFAULT_MODEL

        return {"models": [model_info(e) for e in entries], "default": DEFAULT_MODEL,
                "limits": {"temperature": TEMPERATURE, "length": LENGTH, "count": MAX_COUNT,
                           "primer_chars": PRIMER_CHARS, "primer_bytes": PRIMER_BYTES, "seed": SEED_MAX}}

    @app.get("/api/models/{name}", summary="One model", responses={404: {"description": "no such model"}})
    async def one_model(name: str):
        entry = await asyncio.get_running_loop().run_in_executor(None, composer.bundles.entry, name)
        return model_info(entry)

    @app.post("/api/compose", response_model=ComposeResponse, summary="Compose pieces",
              responses={400: {"description": "a primer the model cannot start from"},
                         404: {"description": "no such model or style"},
                         413: {"description": "the primer file or the request is too large"},
                         422: {"description": "a parameter out of bounds"},
                         429: {"description": "the server is composing all it can; try again soon"},
                         503: {"description": "composing took longer than the server allows"}})
    async def compose_pieces(req: ComposeRequest):
        await asyncio.get_running_loop().run_in_executor(None, composer.bundles.entry, req.model)   # 404 first
        primer_bytes = None
        if req.primer_file is not None:
            if req.primer:
                raise ApiError(400, "give a primer as text or as a file, not both")
            try:
                primer_bytes = base64.b64decode(req.primer_file.data, validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(400, "primer_file.data is not base64") from None
            if len(primer_bytes) > PRIMER_BYTES:
                raise ApiError(413, f"the primer file is {len(primer_bytes) // 1024} KB; the limit is "
                                    f"{PRIMER_BYTES // 1024} KB")
            if not primer_bytes:
                raise ApiError(400, "the primer file is empty")
        gate = composer.gate
        if not gate.try_admit():
            return JSONResponse({"detail": f"the composer is busy ({gate.running} pieces being composed and "
                                           f"{gate.waiting} waiting); try again in a few seconds"}, 429,
                                headers={"Retry-After": "5"})
        abandoned = threading.Event()
        try:
            future = composer.executor.submit(composer.compose, req, primer_bytes, abandoned)
        except RuntimeError:      # shutting down
            gate.release()
            raise ApiError(503, "the server is shutting down") from None
        future.add_done_callback(lambda _: gate.release())
        try:
            pieces, outcome, seconds = await asyncio.wait_for(asyncio.wrap_future(future), composer.timeout)
        except asyncio.TimeoutError:
            abandoned.set()
            future.add_done_callback(_discard)
            return JSONResponse({"detail": f"composing took longer than {composer.timeout:g} s, the most this "
                                           f"server allows; ask for fewer pieces or a shorter length"}, 503)
        except ApiError:
            raise
        except TunesmithError as exc:
            raise ApiError(400, _api_words(str(exc))) from None
        except Exception as exc:  # noqa: BLE001 - this request fails; the server goes on
            log.warn(f"compose failed: {type(exc).__name__}: {exc}")
            raise ApiError(500, f"composing failed ({type(exc).__name__}: {str(exc)[:200]})") from None
        composer.store.add(pieces)
        return ComposeResponse(model=req.model, seed=outcome.seed, seconds=round(seconds, 2),
                               sampled=outcome.sampled, failed=outcome.failed, pieces=[p.out() for p in pieces])

    def _piece(piece_id: str) -> Piece:
        piece = composer.store.get(piece_id)
        if piece is None:
            shown = piece_id if len(piece_id) <= 40 else piece_id[:40] + "..."
            raise ApiError(404, f"no piece {shown!r} on this server (it keeps the last {composer.store.keep} "
                                f"pieces composed, until it stops)")
        return piece

    @app.get("/api/pieces/{piece_id}", response_model=PieceOut, summary="One composed piece")
    async def piece_info(piece_id: str):
        return _piece(piece_id).out()

    @app.get("/api/pieces/{piece_id}/{fmt}", summary="A composed piece's file",
             responses={200: {"content": {t: {} for t, _ in FORMATS.values() if t}},
                        404: {"description": "no such piece, format or page"}})
    async def piece_file(piece_id: str, fmt: str, page: int = Query(1, ge=1, le=1000)):
        piece = _piece(piece_id)
        if fmt not in FORMATS:
            raise ApiError(404, f"no format {fmt[:40]!r}; the formats are {', '.join(FORMATS)}")
        if fmt == "svg":
            if not piece.pages:
                raise ApiError(404, f"piece {piece_id} has no sheet music: {piece.errors.get('svg', 'not rendered')}")
            if page > len(piece.pages):
                raise ApiError(404, f"piece {piece_id} has {len(piece.pages)} pages of sheet music, not {page}")
            path = piece.pages[page - 1]
        else:
            path = piece.files.get(fmt)
            if path is None:
                raise ApiError(404, f"piece {piece_id} has no {fmt}: {piece.errors.get(fmt, 'not made')}")
        media, suffix = FORMATS[fmt]
        if fmt == "source":
            media, suffix = SOURCE_TYPES.get(path.suffix, "text/plain; charset=utf-8"), path.suffix
        name = f"{piece.model}-{piece.id[:6]}-{piece.number}{suffix}"
        return FileResponse(path, media_type=media, filename=name, content_disposition_type="inline")

    return app


def _discard(future: concurrent.futures.Future) -> None:
    """A compose nobody waits for any more: remove what it wrote."""
    if future.cancelled() or future.exception() is not None:
        return
    pieces, _, _ = future.result()
    for folder in {p.folder for p in pieces}:
        shutil.rmtree(folder, ignore_errors=True)


def _plain(errors: list) -> list:
    """Pydantic's error list with only JSON-safe values."""
    out = []
    for e in errors:
        out.append({"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")),
                    "type": str(e.get("type", ""))})
    return out


def serve(host: str = "127.0.0.1", port: int = 8000, models: list[str] | None = None) -> None:
    """Run the app with uvicorn until interrupted (no reload, no debug)."""
    import uvicorn

    if not is_loopback(host):
        log.warn(f"serving on {host}, not only this machine: anyone who can reach port {port} can compose "
                 f"with these models (the app has no login); use --host 127.0.0.1 to keep it local")
    app = create_app(models)
    log.info(f"tunesmith composer on http://{'[' + host + ']' if ':' in host else host}:{port}/ "
             f"(API: /api, docs: /api/docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False)
