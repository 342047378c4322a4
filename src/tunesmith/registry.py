"""Model bundles by name: the folders tunesmith looks in, and what it finds there.

Search path, first match wins:

    --models DIR (given on the command line, may repeat)
    $TUNESMITH_MODELS (folders separated by ':')
    ~/.local/share/tunesmith/models ($XDG_DATA_HOME/tunesmith/models)
    the models shipped inside the package (tunesmith/models/)

A model is a subfolder holding a bundle (config.json, ...); its name is the
folder's name. Requests name models, never paths, where names are all a
caller may give (the web app): `find` only returns folders of this search
path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith import TunesmithError

PACKAGE_MODELS = Path(__file__).resolve().parent / "models"


def search_path(extra: list[str] | None = None) -> list[tuple[Path, str]]:
    """(folder, where it comes from), in the order they are searched."""
    folders: list[tuple[Path, str]] = [(Path(d).expanduser(), "--models") for d in extra or []]
    folders += [(Path(d).expanduser(), "$TUNESMITH_MODELS")
                for d in os.environ.get("TUNESMITH_MODELS", "").split(os.pathsep) if d]
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    folders.append((data_home / "tunesmith" / "models", "user"))
    folders.append((PACKAGE_MODELS, "shipped"))
    return folders


@dataclass
class Entry:
    name: str
    path: Path
    source: str                      # shipped, user, $TUNESMITH_MODELS, --models
    card: dict = field(default_factory=dict)
    problem: str | None = None       # why its card could not be read, if it could not
    shadows: list[Path] = field(default_factory=list)   # same-named models further down the path


def _card(folder: Path) -> tuple[dict, str | None]:
    try:
        card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, "no card.json"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"card.json is unreadable ({exc})"
    return (card, None) if isinstance(card, dict) else ({}, "card.json is not a JSON object")


def models(extra: list[str] | None = None) -> list[Entry]:
    """Every model on the search path, the first of each name; later namesakes are recorded as shadowed."""
    found: dict[str, Entry] = {}
    for folder, source in search_path(extra):
        if not folder.is_dir():
            continue
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and (p / "config.json").is_file()):
            if sub.name in found:
                found[sub.name].shadows.append(sub)
                continue
            card, problem = _card(sub)
            found[sub.name] = Entry(sub.name, sub, source, card, problem)
    return list(found.values())


def find(name: str, extra: list[str] | None = None) -> Path:
    """The folder of the model called `name`; an unknown name is an error listing the known ones."""
    known = models(extra)
    for entry in known:
        if entry.name == name:
            return entry.path
    names = ", ".join(e.name for e in known) or "none (train one, or see 'tunesmith models')"
    raise TunesmithError(f"no model called {name!r}; known models: {names}")
