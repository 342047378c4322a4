"""What the API does, apart from HTTP: models by name, pieces by id, and composing in threads.

`Composer.compose` runs in one of `running` composing threads, each with its
own render worker process (`Workers`): it checks what the request asks, then
calls `tunesmith.compose.compose` (sample, verdict, write, render) and keeps
the pieces it made in the `Store`. `Gate` bounds how many composes are
admitted; `Bundles` keeps the last few models loaded.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import queue
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from tunesmith import TunesmithError, bundle, compose, continuation, formats, harmonize, registry, render, sample
from tunesmith.notation import abc
from tunesmith.web import primer
from tunesmith.web.schemas import CONTROLS, ApiError, ComposeRequest, HarmonizeRequest, api_words, web_length
from tunesmith.web.store import TEXT_SHOWN, Store, StoredPiece  # noqa: F401 - composer.Store, as before
from tunesmith.worker import Worker


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

    def entries(self) -> list[registry.Entry]:
        return registry.models(self.extra)

    def entry(self, name: str) -> registry.Entry:
        """The registry's entry called `name`; an unknown name is a 404 listing the known ones."""
        for e in self.entries():
            if e.name == name:
                return e
        try:
            registry.find(name, self.extra)
        except TunesmithError as exc:
            raise ApiError(404, str(exc)) from None
        raise ApiError(404, f"no model called {name!r}")

    def load(self, name: str) -> bundle.Bundle:
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
    server starts), replaced by the Worker itself when one crashes."""

    def __init__(self, count: int, timeout: float):
        self._all = [Worker(timeout) for _ in range(count)]
        self._free: queue.Queue = queue.Queue()
        for w in self._all:
            self._free.put(w)
        self._primer: Worker | None = None
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
        """The part of a score file a primer is made of, read in a worker of its own."""
        with self._primer_lock:
            if self._primer is None:
                self._primer = Worker(self.timeout, job=primer.read_part)
            piece = render.Piece(path.stem, formats.format_of(path), path=str(path))
            ok, value = self._primer.run(piece, parts, path.parent)
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

    def compose(self, req: ComposeRequest, primer_bytes: bytes | None, abandoned: threading.Event
                ) -> tuple[list[StoredPiece], compose.Outcome | None, float]:
        """Runs in a composing thread: check the request, then compose.compose (sampled, checked and
        rendered in this thread's worker) into a new folder of the store. A compose abandoned (its
        request answered 503) keeps nothing."""
        started = time.perf_counter()
        with self.gate.working(), self.workers.take() as worker:
            if abandoned.is_set():
                return [], None, 0.0
            loaded = self.bundles.load(req.model)
            self._check_style(loaded, req)
            text = self._primer_text(loaded, req, primer_bytes)
            tune = self._tune(loaded, req, text if text is not None else req.primer, primer_bytes is not None)
            options = self._options(loaded, req, tune.primer if tune is not None else text)
            if req.adapt:       # (once the request is checked) a copy of the model learns the tune
                loaded = continuation.learnt(loaded, tune, self.device)
            folder = self.store.new_folder()
            try:
                composed = compose.compose(loaded, options, folder, stem=req.model, formats=self._formats(loaded),
                                           device=self.device, worker=worker, render_timeout=self.render_timeout,
                                           show_progress=False, stop=abandoned.is_set,
                                           finish=tune.finisher(loaded.codec) if tune is not None else None)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        if abandoned.is_set():
            shutil.rmtree(folder, ignore_errors=True)
            return [], composed.outcome, 0.0
        pieces = self._stored(req, loaded, composed, folder, options.valid_only)
        return pieces, composed.outcome, time.perf_counter() - started

    def harmonize(self, req: HarmonizeRequest, melody_bytes: bytes | None, abandoned: threading.Event
                  ) -> tuple[list[StoredPiece], compose.Outcome | None, float]:
        """Runs in a composing thread: the melody (a stored piece's, or a file's), read in this thread's
        worker, harmonized by a model of voices (`tunesmith.harmonize`), written and rendered."""
        started = time.perf_counter()
        with self.gate.working(), self.workers.take() as worker:
            if abandoned.is_set():
                return [], None, 0.0
            loaded = self.bundles.load(req.model)
            if getattr(loaded.codec, "layout", None) != "voices":
                raise ApiError(400, f"the model {req.model!r} does not write voices on a grid: harmonize with a "
                                    f"model such as chorale")
            folder = self.store.new_folder()
            try:
                melody = self._melody(req, melody_bytes, folder, worker, loaded.codec.grid)
                made = harmonize.harmonize(loaded, melody, n=req.count, seed=req.seed, device=self.device,
                                           voice_leading=req.voice_leading,
                                           temperature=req.temperature if req.temperature is not None else
                                           compose.card_defaults(loaded.card).temperature)
                paths = sample.write(made.pieces, loaded.codec, folder, stem=f"{req.model}-harmonized",
                                     finish=harmonize.finisher(loaded.codec, melody))
                rendered = render.render(paths, self._formats(loaded), folder, timeout=self.render_timeout,
                                         show_progress=False, worker=worker)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        pieces = []
        for k, (path, piece) in enumerate(zip(paths, made.pieces)):
            stored = StoredPiece(secrets.token_hex(8), req.model, k + 1, made.seed, None, made.kept[k], piece.ended,
                                 folder, "musicxml", {"source": path, "musicxml": path})
            stored.add_rendered(rendered)
            if self.wav_missing is not None and "wav" not in stored.errors:
                stored.errors["wav"] = self.wav_missing
            pieces.append(stored)
        outcome = compose.Outcome(made.pieces, made.seed, len(made.pieces), 1, failed=made.kept.count(False))
        return pieces, outcome, time.perf_counter() - started

    def _melody(self, req: HarmonizeRequest, data: bytes | None, folder: Path, worker, grid: str):
        """The melody to harmonize: a stored piece's source, or the file sent; read in the worker."""
        from tunesmith.notation.grid import GridPiece
        if (req.piece_id is None) == (data is None):
            raise ApiError(400, "give the melody as piece_id (a piece composed here) or as melody_file, one of them")
        if req.piece_id is not None:
            stored = self.store.get(req.piece_id)
            if stored is None:
                raise ApiError(404, f"no piece {req.piece_id[:40]!r} (pieces are kept for a while only)")
            path = stored.files["source"]
        else:
            try:
                path = folder / f"melody{primer.melody_suffix(data)}"
            except TunesmithError as exc:
                raise ApiError(400, str(exc)) from None
            path.write_bytes(data)
        piece = render.Piece(path.stem, formats.format_of(path), path=str(path))
        ok, value = worker.call(primer.read_melody, piece, f"{grid}|{req.part or 0}", folder)
        if not ok:
            raise ApiError(400, f"the melody cannot be read: {value}")
        return GridPiece.from_json(value)

    @staticmethod
    def _check_style(loaded: bundle.Bundle, req: ComposeRequest) -> None:
        styles = loaded.codec.styles
        if req.style is not None and req.style not in styles:
            known = ", ".join(styles) if styles else "none (it was trained on one corpus)"
            raise ApiError(404, f"the model {req.model!r} has no style {req.style!r}; its styles: {known}")

    def _primer_text(self, loaded: bundle.Bundle, req: ComposeRequest, primer_bytes: bytes | None) -> str | None:
        """The primer file's first notes as the model's primer text (None: no file), read in a worker; for
        a text model, the file's text (a tune it continues)."""
        codec = loaded.codec
        if primer_bytes is None:
            return None
        if codec.primer_kind != "score":
            with contextlib.suppress(TunesmithError):
                primer.suffix_of(primer_bytes)
                raise ApiError(400, f"the model {req.model!r} writes {codec.format} text: its primer is text "
                                    f"(the 'primer' field, or a {codec.format} file), not a MIDI or MusicXML file")
            try:
                return abc.decode(primer_bytes, refuse_binary=True).replace("\r\n", "\n")
            except ValueError as exc:
                raise ApiError(400, f"the primer file is not a text file of {codec.format}: {exc}") from None
        try:
            suffix = primer.suffix_of(primer_bytes)
        except TunesmithError as exc:
            raise ApiError(400, str(exc)) from None
        folder = self.store.new_folder()
        try:
            path = folder / f"primer{suffix}"
            path.write_bytes(primer_bytes)
            part = self.workers.read_primer(path, codec.reading().parts)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return primer.words(codec, part)

    def _options(self, loaded: bundle.Bundle, req: ComposeRequest, primer_text: str | None
                 ) -> compose.SampleOptions:
        """The card's compose defaults with what the request sets, checked before any work."""
        try:
            options = compose.card_defaults(loaded.card)
        except TunesmithError as exc:
            raise ApiError(500, f"the model {req.model!r} has a broken card: {exc}") from None
        changes: dict = {"n": req.count, "seed": req.seed,
                         "max_length": req.length if req.length is not None else web_length(options.max_length)}
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
        changes.update({name: getattr(req, name) for name in CONTROLS if getattr(req, name) is not None})
        changes.update({name: getattr(req, name) for name in ("voice_leading", "bars")
                        if getattr(req, name) is not None})
        options = replace(options, **changes)
        self._check(loaded, options)
        return options

    @staticmethod
    def _tune(loaded: bundle.Bundle, req: ComposeRequest, text: str, from_file: bool) -> continuation.Tune | None:
        """The person's tune each piece continues (`continuation`, or a text model's primer file), in
        the model's shape; None when the primer only starts the pieces. A tune it cannot follow: 400."""
        if not (req.continuation or (from_file and loaded.codec.primer_kind == "text")):
            if req.adapt:
                raise ApiError(400, "adapt learns a tune of yours: it needs continuation and a tune in the primer")
            return None
        if not text.strip():
            raise ApiError(400, "continuation needs a tune in the primer (text or file) to continue")
        try:
            return continuation.prepare(loaded.codec, text, "the primer")
        except TunesmithError as exc:
            raise ApiError(400, api_words(str(exc))) from None

    @staticmethod
    def _check(loaded: bundle.Bundle, options: compose.SampleOptions) -> None:
        """Refuse options the library refuses (422), or a primer the model cannot start from (400, or 422
        when it fills the length)."""
        try:
            compose.validate(loaded, options)
        except TunesmithError as exc:
            raise ApiError(422, api_words(str(exc))) from None
        try:
            primed = len(loaded.codec.encode_primer(options.primer, options.style)) - 1
        except TunesmithError as exc:
            raise ApiError(400, api_words(str(exc))) from None
        try:
            sample.check_primer_length(primed, options.max_length)
        except TunesmithError as exc:
            raise ApiError(422, api_words(str(exc))) from None

    def _formats(self, loaded: bundle.Bundle) -> list[str]:
        """What each piece is rendered to: MIDI, sheet music, MusicXML (unless that is its source), WAV."""
        wanted = ["midi", "svg"] + (["musicxml"] if loaded.codec.source_format != "musicxml" else [])
        return wanted + (["wav"] if self.wav_missing is None else [])

    def _stored(self, req: ComposeRequest, loaded: bundle.Bundle, composed: compose.Composed, folder: Path,
                checked: bool) -> list[StoredPiece]:
        """The pieces composed, as the store keeps them."""
        codec, outcome = loaded.codec, composed.outcome
        pieces = []
        for k, (path, sampled) in enumerate(zip(composed.paths, outcome.pieces)):
            piece = StoredPiece(secrets.token_hex(8), req.model, k + 1, outcome.seed, sampled.style,
                                composed.passed(k) if checked else None, sampled.ended, folder,
                                codec.source_format, {"source": path})
            if codec.text_output:
                piece.text = path.read_text(encoding="utf-8", errors="replace")[:TEXT_SHOWN]
            piece.add_rendered(composed.rendered)
            if codec.source_format == "musicxml":      # the source file is the MusicXML download
                piece.files["musicxml"] = path
            if self.wav_missing is not None and "wav" not in piece.errors:
                piece.errors["wav"] = self.wav_missing
            pieces.append(piece)
        return pieces
