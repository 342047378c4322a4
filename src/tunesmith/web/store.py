"""The pieces the server composed, kept by id with their files (`Store`), each as the API shows it
(`StoredPiece.out`)."""

from __future__ import annotations

import collections
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith import render
from tunesmith.web.schemas import FORMATS, PieceOut

TEXT_SHOWN = 20_000          # characters of a text piece sent with it (the page shows the source)


# ---- pieces ------------------------------------------------------------------------------------

@dataclass
class StoredPiece:
    """A piece the server composed, kept by id with its files."""

    id: str
    model: str
    number: int
    seed: int
    style: str | None
    passed: bool | None
    ended: bool
    folder: Path
    source_format: str                                        # the codec's: abc, kern, musicxml
    files: dict[str, Path] = field(default_factory=dict)     # source, midi, musicxml, wav
    pages: list[Path] = field(default_factory=list)          # svg
    errors: dict[str, str] = field(default_factory=dict)
    text: str | None = None

    def add_rendered(self, results: list[render.Result]) -> None:
        """Take the files rendered from this piece's source, and why the others were not."""
        stem = self.files["source"].stem
        result = next((r for r in results if r.piece == stem or r.piece.startswith(stem + "-")), None)
        if result is None:
            self.errors["render"] = "the renderer found no piece in it"
            return
        for fmt, outputs in result.outputs.items():
            if fmt == "svg":
                self.pages = list(outputs)
            elif outputs:
                self.files[fmt] = outputs[0]
        self.errors.update(result.errors)

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
        self._pieces: collections.OrderedDict[str, StoredPiece] = collections.OrderedDict()
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

    def add(self, pieces: list[StoredPiece]) -> None:
        with self._lock:
            for piece in pieces:
                self._pieces[piece.id] = piece
            dropped = []
            while len(self._pieces) > self.keep:
                dropped.append(self._pieces.popitem(last=False)[1])
            in_use = {p.folder for p in self._pieces.values()}
        for folder in {p.folder for p in dropped} - in_use:
            shutil.rmtree(folder, ignore_errors=True)

    def get(self, piece_id: str) -> StoredPiece | None:
        with self._lock:
            return self._pieces.get(piece_id)

    def __len__(self) -> int:
        return len(self._pieces)

    def close(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
