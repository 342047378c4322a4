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

The parts: `schemas.py` (the request and response shapes, and every limit),
`composer.py` (models, pieces and composing, apart from HTTP), `routes.py`
(the routes and the HTTP around them); this module builds the app and serves
it, and names everything the others define that callers use.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os

import torch
import uvicorn
from fastapi import FastAPI

from tunesmith import TunesmithError, __version__, log
from tunesmith.web.composer import TEXT_SHOWN, Bundles, Composer, Gate, Store, StoredPiece, Workers
from tunesmith.web.routes import LOOPBACK_NAMES, SECURITY_HEADERS, STATIC, add_routes, host_name
from tunesmith.web.schemas import (FORMATS, LENGTH, MAX_BODY, MAX_COUNT, PRIMER_BYTES, PRIMER_CHARS, SEED_MAX,
                                   SOURCE_TYPES, TEMPERATURE, ApiError, ComposeRequest, ComposeResponse, PieceOut,
                                   PrimerFile, model_info)

__all__ = ["create_app", "serve", "is_loopback", "served_hosts", "STATIC", "SECURITY_HEADERS", "LOOPBACK_NAMES",
           "TEMPERATURE", "LENGTH", "MAX_COUNT", "PRIMER_CHARS", "PRIMER_BYTES", "MAX_BODY", "SEED_MAX", "FORMATS",
           "SOURCE_TYPES", "TEXT_SHOWN", "ApiError", "PrimerFile", "ComposeRequest", "PieceOut", "ComposeResponse",
           "StoredPiece", "Store", "Bundles", "Gate", "Workers", "Composer", "model_info"]


def create_app(models: list[str] | None = None, *, device: str = "cpu", running: int = 2, waiting: int = 2,
               timeout: float = 120.0, keep: int = 200, wav: bool | None = None,
               render_timeout: float = 30.0, threads: int | None = None,
               hosts: list[str] | None = None) -> FastAPI:
    """The composer app. `models`: more folders to find models in (like --models; the registry's
    search path follows). `running` composes at once, `waiting` more queued, the rest answered 429;
    `timeout` seconds per compose (503 after); the last `keep` pieces are kept. `wav`: None renders
    WAV where FluidSynth is installed, False never (the page synthesizes the MIDI itself).
    `threads`: PyTorch's threads while the app runs (default: the CPU cores shared among the `running`
    composes; more threads than cores, as two composes of all cores each make, can be many times
    slower on CPU). `hosts`: the names (or addresses) a request's Host header may give besides
    localhost, 127.0.0.1 and ::1; any other is answered 400 before any work (DNS rebinding)."""
    for name, value, low in (("running", running, 1), ("waiting", waiting, 0), ("keep", keep, 1)):
        if value < low:
            raise TunesmithError(f"{name} must be at least {low}, not {value}")
    composer = Composer(list(models or []), device, running, waiting, timeout, keep, wav, render_timeout)
    threads = threads or max(1, (os.cpu_count() or 1) // running)
    app = FastAPI(title="tunesmith composer", version=__version__, debug=False,
                  lifespan=_lifespan(composer, threads),
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None,
                  description="Compose pieces with tunesmith's models. The page at / uses only this API.")
    app.state.composer = composer
    add_routes(app, composer, LOOPBACK_NAMES | {host_name(h) for h in hosts or ()})
    return app


def _lifespan(composer: Composer, threads: int):
    """While the app runs: PyTorch on `threads` threads, the render workers started; after, all closed."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        await loop.run_in_executor(None, composer.workers.start)
        try:
            yield
        finally:
            await loop.run_in_executor(None, composer.close)
            torch.set_num_threads(before)

    return lifespan


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def served_hosts(host: str, allow: list[str] | None = None) -> list[str]:
    """The Host header names a server started on `host` answers besides the loopback ones: `host`
    itself (unless it is every address, 0.0.0.0 or ::) and the --allow-host names."""
    wildcard = host.strip("[]") in ("", "0.0.0.0", "::")
    return ([] if wildcard else [host]) + list(allow or [])


def serve(host: str = "127.0.0.1", port: int = 8000, models: list[str] | None = None,
          allow_hosts: list[str] | None = None) -> None:
    """Run the app with uvicorn until interrupted (no reload, no debug). Requests are answered when
    their Host header names this machine (localhost, 127.0.0.1, ::1), `host`, or one of `allow_hosts`."""
    hosts = served_hosts(host, allow_hosts)
    if not is_loopback(host):
        log.warn(f"serving on {host}, not only this machine: anyone who can reach port {port} can compose "
                 f"with these models (the app has no login); use --host 127.0.0.1 to keep it local")
        if not hosts:
            log.warn(f"requests are answered only when addressed to localhost, 127.0.0.1 or ::1; add "
                     f"--allow-host NAME for each name or address people use to reach port {port}")
    app = create_app(models, hosts=hosts)
    log.info(f"tunesmith composer on http://{'[' + host + ']' if ':' in host else host}:{port}/ "
             f"(API: /api, docs: /api/docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False)
