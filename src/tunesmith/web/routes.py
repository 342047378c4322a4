"""The API's routes and the HTTP around them: security headers, size limits, error answers.

Each `add_*` function puts one group on an app, in the order they are listed
(the order of the paths in openapi.json); the routes call the app's
`Composer` and answer its `ApiError`s.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import shutil
import threading
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from tunesmith import TunesmithError, __version__, log
from tunesmith.compose import DEFAULT_MODEL
from tunesmith.web.composer import Composer, StoredPiece
from tunesmith.web.schemas import (FORMATS, LENGTH, MAX_BODY, MAX_COUNT, PRIMER_BYTES, PRIMER_CHARS, SEED_MAX,
                                   SOURCE_TYPES, TEMPERATURE, TEXT_TYPE, ApiError, ComposeRequest, ComposeResponse,
                                   HarmonizeRequest, PieceOut, api_words, model_info)

STATIC = Path(__file__).resolve().parent / "static"
HTML = "text/html; charset=utf-8"

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})   # the Host names always answered

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; media-src 'self' blob:; object-src 'none'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

COMPOSE_ANSWERS = {400: {"description": "a primer the model cannot start from"},
                   404: {"description": "no such model or style"},
                   413: {"description": "the primer file or the request is too large"},
                   422: {"description": "a parameter out of bounds"},
                   429: {"description": "the server is composing all it can; try again soon"},
                   503: {"description": "composing took longer than the server allows"}}


def add_routes(app: FastAPI, composer: Composer, hosts: frozenset[str] = LOOPBACK_NAMES) -> None:
    """Every route, guard and error answer of the composer app; `hosts`: the names (and addresses)
    a request's Host header may give (see add_guard)."""
    add_guard(app, hosts)
    add_error_answers(app)
    add_page(app)
    add_status_routes(app, composer)
    add_compose_route(app, composer)
    add_harmonize_route(app, composer)
    add_piece_routes(app, composer)


# ---- HTTP around the routes --------------------------------------------------------------------

def host_name(header: str) -> str:
    """The name of a Host header, without its port: "[::1]:8000" -> "::1", "LocalHost:80" -> "localhost"."""
    name = header.strip().lower()
    if name.startswith("["):
        name = name[1:name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    return name.rstrip(".")


def _error(status: int, detail: str, **headers: str) -> JSONResponse:
    """An error answer: its reason as JSON, with the security headers."""
    return JSONResponse({"detail": detail}, status, headers={**SECURITY_HEADERS, **headers})


def add_guard(app: FastAPI, hosts: frozenset[str] = LOOPBACK_NAMES) -> None:
    """Before any work: refuse a Host header not in `hosts` (a page elsewhere that a DNS rebinding
    pointed at this server), bodies over MAX_BODY and chunked ones (whose size is not told). Security
    headers on every answer; an error nothing else answered is a 500 with them, and no traceback."""
    allowed = frozenset(host_name(h) for h in hosts)
    names = ", ".join(sorted(allowed))

    @app.middleware("http")
    async def guard(request: Request, call_next):
        host = request.headers.get("host")
        if host is None or host_name(host) not in allowed:
            shown = "no Host header" if host is None else f"the Host header {host[:60]!r}"
            return _error(400, f"this server answers requests addressed to {names}, not {shown} (start "
                               f"it with --allow-host NAME to add a name)")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return _error(413, f"the request is larger than {MAX_BODY // 1024} KB")
        if length is None and request.method == "POST" and request.headers.get("transfer-encoding"):
            return _error(411, "send the request with a Content-Length")
        try:
            response = await call_next(request)
        except Exception as exc:  # noqa: BLE001 - this request fails; the server goes on
            return internal_error(request, exc)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response


def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A 500 for an error no route answered: one line in the server's log, none of it in the answer."""
    log.warn(f"{request.method} {request.url.path} failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
    return _error(500, "the server could not answer this request (an internal error; the server's log says more)")


def add_error_answers(app: FastAPI) -> None:
    """ApiError as its status and reason; a request out of bounds as 422 naming the fields; anything
    else as a 500 (the guard answers those; this is the last resort, outside it)."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": _validation_message(exc), "errors": _plain(exc.errors())}, 422,
                            headers=SECURITY_HEADERS)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception):
        return internal_error(request, exc)


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


def _plain(errors: list) -> list:
    """Pydantic's error list with only JSON-safe values."""
    out = []
    for e in errors:
        out.append({"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")),
                    "type": str(e.get("type", ""))})
    return out


# ---- the page, health and models ---------------------------------------------------------------

def add_page(app: FastAPI) -> None:
    """The page, the API's reference page, and their files (shipped in the package)."""

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type=HTML)

    @app.get("/api/docs", include_in_schema=False)
    async def docs():
        return FileResponse(STATIC / "docs.html", media_type=HTML)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def add_status_routes(app: FastAPI, composer: Composer) -> None:
    """/api/health, /api/models and /api/models/{name}."""

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
        return {"models": [model_info(e) for e in entries], "default": DEFAULT_MODEL,
                "limits": {"temperature": TEMPERATURE, "length": LENGTH, "count": MAX_COUNT,
                           "primer_chars": PRIMER_CHARS, "primer_bytes": PRIMER_BYTES, "seed": SEED_MAX}}

    @app.get("/api/models/{name}", summary="One model", responses={404: {"description": "no such model"}})
    async def one_model(name: str):
        entry = await asyncio.get_running_loop().run_in_executor(None, composer.bundles.entry, name)
        return model_info(entry)


# ---- composing ---------------------------------------------------------------------------------

def add_compose_route(app: FastAPI, composer: Composer) -> None:
    """POST /api/compose."""

    @app.post("/api/compose", response_model=ComposeResponse, summary="Compose pieces", responses=COMPOSE_ANSWERS)
    async def compose_pieces(req: ComposeRequest):
        await asyncio.get_running_loop().run_in_executor(None, composer.bundles.entry, req.model)   # 404 first
        return await _compose(composer, req, _primer_bytes(req))


def add_harmonize_route(app: FastAPI, composer: Composer) -> None:
    """POST /api/harmonize."""

    @app.post("/api/harmonize", response_model=ComposeResponse, summary="Harmonize a melody in four voices",
              responses={**COMPOSE_ANSWERS, 404: {"description": "no such model or piece"}})
    async def harmonize_melody(req: HarmonizeRequest):
        await asyncio.get_running_loop().run_in_executor(None, composer.bundles.entry, req.model)   # 404 first
        data = _file_bytes(req.melody_file, "melody_file") if req.melody_file is not None else None
        return await _compose(composer, req, data, composer.harmonize)


def _file_bytes(sent, field: str) -> bytes:
    """A sent file's bytes, refused when not base64, empty or too large."""
    try:
        data = base64.b64decode(sent.data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{field}.data is not base64") from None
    if len(data) > PRIMER_BYTES:
        raise ApiError(413, f"the {field.replace('_', ' ')} is {len(data) // 1024} KB; the limit is "
                            f"{PRIMER_BYTES // 1024} KB")
    if not data:
        raise ApiError(400, f"the {field.replace('_', ' ')} is empty")
    return data


def _primer_bytes(req: ComposeRequest) -> bytes | None:
    """The primer file's bytes (None: no file), refused when not base64, empty or too large."""
    if req.primer_file is None:
        return None
    if req.primer:
        raise ApiError(400, "give a primer as text or as a file, not both")
    return _file_bytes(req.primer_file, "primer_file")


async def _compose(composer: Composer, req, primer_bytes: bytes | None, job=None):
    """Compose (or `job`: harmonize) in the composer's threads if the gate admits it (else 429), within
    its timeout (else 503)."""
    gate = composer.gate
    if not gate.try_admit():
        return JSONResponse({"detail": f"the composer is busy ({gate.running} pieces being composed and "
                                       f"{gate.waiting} waiting); try again in a few seconds"}, 429,
                            headers={"Retry-After": "5"})
    abandoned = threading.Event()
    try:
        future = composer.executor.submit(job or composer.compose, req, primer_bytes, abandoned)
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
        raise ApiError(400, api_words(str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - this request fails; the server goes on
        log.warn(f"compose failed: {type(exc).__name__}: {exc}")
        raise ApiError(500, f"composing failed ({type(exc).__name__}: {str(exc)[:200]})") from None
    composer.store.add(pieces)
    return ComposeResponse(model=req.model, seed=outcome.seed, seconds=round(seconds, 2),
                           sampled=outcome.sampled, failed=outcome.failed, pieces=[p.out() for p in pieces])


def _discard(future: concurrent.futures.Future) -> None:
    """A compose nobody waits for any more: remove what it wrote."""
    if future.cancelled() or future.exception() is not None:
        return
    pieces, _, _ = future.result()
    for folder in {p.folder for p in pieces}:
        shutil.rmtree(folder, ignore_errors=True)


# ---- pieces ------------------------------------------------------------------------------------

def add_piece_routes(app: FastAPI, composer: Composer) -> None:
    """GET /api/pieces/{id} and /api/pieces/{id}/{format}."""

    @app.get("/api/pieces/{piece_id}", response_model=PieceOut, summary="One composed piece")
    async def piece_info(piece_id: str):
        return _piece(composer, piece_id).out()

    @app.get("/api/pieces/{piece_id}/{fmt}", summary="A composed piece's file",
             responses={200: {"content": {t: {} for t, _ in FORMATS.values() if t}},
                        404: {"description": "no such piece, format or page"}})
    async def piece_file(piece_id: str, fmt: str, page: int = Query(1, ge=1, le=1000)):
        piece = _piece(composer, piece_id)
        path = _piece_path(piece, fmt, page)
        media, suffix = FORMATS[fmt]
        if fmt == "source":
            media, suffix = SOURCE_TYPES.get(piece.source_format, TEXT_TYPE), path.suffix
        name = f"{piece.model}-{piece.id[:6]}-{piece.number}{suffix}"
        return FileResponse(path, media_type=media, filename=name, content_disposition_type="inline")


def _piece(composer: Composer, piece_id: str) -> StoredPiece:
    piece = composer.store.get(piece_id)
    if piece is None:
        shown = piece_id if len(piece_id) <= 40 else piece_id[:40] + "..."
        raise ApiError(404, f"no piece {shown!r} on this server (it keeps the last {composer.store.keep} "
                            f"pieces composed, until it stops)")
    return piece


def _piece_path(piece: StoredPiece, fmt: str, page: int) -> Path:
    """The file of `piece` in format `fmt` (svg: its page), or a 404 saying why there is none."""
    if fmt not in FORMATS:
        raise ApiError(404, f"no format {fmt[:40]!r}; the formats are {', '.join(FORMATS)}")
    if fmt == "svg":
        if not piece.pages:
            raise ApiError(404, f"piece {piece.id} has no sheet music: {piece.errors.get('svg', 'not rendered')}")
        if page > len(piece.pages):
            raise ApiError(404, f"piece {piece.id} has {len(piece.pages)} pages of sheet music, not {page}")
        return piece.pages[page - 1]
    path = piece.files.get(fmt)
    if path is None:
        raise ApiError(404, f"piece {piece.id} has no {fmt}: {piece.errors.get(fmt, 'not made')}")
    return path
