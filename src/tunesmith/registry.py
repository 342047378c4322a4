"""Model bundles by name: the folders tunesmith looks in, and what it finds there.

Search path, first match wins:

    --models DIR (given on the command line, may repeat)
    $TUNESMITH_MODELS (folders separated by ':')
    ~/.local/share/tunesmith/models ($XDG_DATA_HOME/tunesmith/models)
    the models shipped inside the package (tunesmith/models/)

A model is a subfolder holding a bundle (config.json, ...; one that holds
any of its files is listed, with what is missing as its problem); its name
is the folder's name. Requests name models, never paths, where names are all a
caller may give (the web app): `find` only returns folders of this search
path.

`check_bundle` reads a bundle's files without building its model: the types
and bounds of config.json, codec.json, card.json, the weights' names, dtypes
and shapes from the safetensors header against the shapes the config needs
(`nets.base.parameter_shapes`, on the meta device), the size against
`max_parameters()` and, last, that the weights are finite numbers. Each
problem is one sentence naming the file. `bundle.load` builds the model only
after it passed; `models` lists each model with the problem it has, if any.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith import TunesmithError
from tunesmith.codecs import codec_from_json

PACKAGE_MODELS = Path(__file__).resolve().parent / "models"
BUNDLE_VERSION = 1
FILES = ("config.json", "codec.json", "weights.safetensors", "card.json")
DEFAULT_MAX_PARAMETERS = 200_000_000      # the shipped models have 0.5-1 million
MAX_HEADER = 100_000_000                  # safetensors' own bound on a header
FLOAT_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}
OTHER_DTYPES = {"I64": 8, "U64": 8, "I32": 4, "U32": 4, "I16": 2, "U16": 2, "I8": 1, "U8": 1, "BOOL": 1,
                "F8_E4M3": 1, "F8_E5M2": 1}


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
    problem: str | None = None       # why it cannot be loaded (its card, or what `check_bundle` refuses)
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
    """Every model on the search path, the first of each name; later namesakes are recorded as shadowed.
    An entry whose files `check_bundle` refuses carries the reason as its problem."""
    found: dict[str, Entry] = {}
    for folder, source in search_path(extra):
        if not folder.is_dir():
            continue
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and any((p / f).exists() for f in FILES)):
            if sub.name in found:
                found[sub.name].shadows.append(sub)
                continue
            card, problem = _card(sub)
            found[sub.name] = Entry(sub.name, sub, source, card, problem or _problem(sub))
    return list(found.values())


_checked: dict[str, tuple[tuple, str | None]] = {}   # folder → (its files' sizes and times, its problem)


def _problem(folder: Path) -> str | None:
    """Why the bundle in `folder` cannot be loaded, or None; remembered until its files change."""
    try:
        stamp = (max_parameters(),) + tuple((f.stat().st_size, f.stat().st_mtime_ns) if f.exists() else None
                                            for f in (folder / name for name in FILES))
    except (OSError, TunesmithError):
        stamp = None
    hit = _checked.get(str(folder))
    if stamp is not None and hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        check_bundle(folder)
        problem = None
    except TunesmithError as exc:
        problem = str(exc)
    except Exception as exc:  # noqa: BLE001 - a listing names what it cannot read and goes on
        problem = f"it cannot be read ({type(exc).__name__}: {exc})"
    if stamp is not None:
        _checked[str(folder)] = (stamp, problem)
    return problem


def find(name: str, extra: list[str] | None = None) -> Path:
    """The folder of the model called `name` (the first on the search path; its files are checked when
    it is loaded, the others' are not read); an unknown name is an error listing the known ones."""
    for folder, _ in search_path(extra):
        sub = folder / name
        if name not in ("", ".", "..") and "/" not in name and sub.is_dir() and \
                any((sub / f).exists() for f in FILES):
            return sub
    known = models(extra)
    for entry in known:
        if entry.name == name:
            return entry.path
    names = ", ".join(e.name for e in known) or "none (train one, or see 'tunesmith models')"
    raise TunesmithError(f"no model called {name!r}; known models: {names}")


# ---- a bundle's files, read without building its model -----------------------------------------

def max_parameters(given: int | None = None) -> int:
    """The largest model loaded: `given`, else $TUNESMITH_MAX_PARAMETERS, else DEFAULT_MAX_PARAMETERS."""
    if given is not None:
        return given
    raw = os.environ.get("TUNESMITH_MAX_PARAMETERS", "").strip()
    if not raw:
        return DEFAULT_MAX_PARAMETERS
    try:
        limit = int(raw.replace("_", ""))
    except ValueError:
        limit = 0
    if limit < 1:
        raise TunesmithError(f"TUNESMITH_MAX_PARAMETERS must be a positive whole number, not {raw!r}")
    return limit


def read_json(path: Path) -> dict:
    """A JSON object from a file, or one sentence saying why not."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise TunesmithError(f"{path} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise TunesmithError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if not isinstance(data, dict):
        raise TunesmithError(f"{path} should hold a JSON object")
    return data


def weights_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Tensor name → (dtype, shape) from a safetensors file's header, reading nothing else. A header
    that is not one, or whose tensors do not fit in the file, is refused as truncated or corrupt."""
    def corrupt(why: str) -> TunesmithError:
        return TunesmithError(f"{path} is truncated or corrupt ({why})")

    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            start = f.read(8)
            if len(start) < 8:
                raise corrupt(f"{size} bytes, shorter than a header")
            (length,) = struct.unpack("<Q", start)
            if length > min(MAX_HEADER, size - 8):
                raise corrupt(f"its header claims {length:,} bytes of the {size:,} in the file")
            header = json.loads(f.read(length).decode("utf-8"))
    except OSError as exc:
        raise TunesmithError(f"{path} cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise corrupt(f"its header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise corrupt("its header is not a JSON object")
    body = size - 8 - length
    return {name: _header_entry(name, entry, body, corrupt) for name, entry in header.items()
            if name != "__metadata__"}


def _header_entry(name: str, entry: Any, body: int, corrupt) -> tuple[str, tuple[int, ...]]:
    def whole(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool) and x >= 0

    if not isinstance(entry, dict):
        raise corrupt(f"{name} is described by {type(entry).__name__}, not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in {**FLOAT_DTYPES, **OTHER_DTYPES}:
        raise corrupt(f"{name} has the unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(whole(n) for n in shape):
        raise corrupt(f"{name} has the shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(whole(n) for n in offsets)
            and offsets[0] <= offsets[1]):
        raise corrupt(f"{name} has the data offsets {offsets!r}")
    needed = math.prod(shape) * {**FLOAT_DTYPES, **OTHER_DTYPES}[dtype]
    if offsets[1] - offsets[0] != needed:
        raise corrupt(f"{name} is {tuple(shape)} {dtype}, {needed:,} bytes, but takes {offsets[1] - offsets[0]:,}")
    if offsets[1] > body:
        raise corrupt(f"{name} ends at byte {offsets[1]:,} of a body of {body:,}")
    return dtype, tuple(shape)


@dataclass
class Checked:
    """A bundle's files, read and checked: what `bundle.load` builds the model from."""

    config: Any                       # nets.ModelConfig
    codec: Any                        # codecs.Codec
    card: dict
    tensors: dict | None = None       # name → torch tensor, as stored (None: not read)


def check_bundle(folder: str | Path, limit: int | None = None, tensors: bool = True) -> Checked:
    """Read and check the bundle in `folder` (see the module's docstring) without building its model;
    `tensors`: also read the weights and check that they are finite."""
    path = Path(folder)
    if not path.is_dir():
        raise TunesmithError(f"'{path}' is a file; a model is a folder with {', '.join(FILES)}")
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        raise TunesmithError(f"model folder '{path}' is missing {', '.join(missing)} "
                             f"(a model needs {', '.join(FILES)})")
    config = _model_config(path)
    codec = _codec(path)
    card = read_json(path / "card.json")
    if codec.vocab_size != config.vocab_size:
        raise TunesmithError(f"codec.json in '{path}' has {codec.vocab_size} symbols but the model was built "
                             f"for {config.vocab_size}: the codec belongs to another model")
    _check_weights_fit(path, config, max_parameters(limit))
    return Checked(config, codec, card, _finite_tensors(path / "weights.safetensors") if tensors else None)


def _model_config(path: Path):
    """config.json's bundle version and model, checked field by field."""
    from tunesmith.nets.base import ModelConfig   # here: nets imports torch (~1 s); `models` lists without it

    file = path / "config.json"
    config = read_json(file)
    version = config.get("bundle_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TunesmithError(f"{file} has no valid bundle_version ({version!r}): it is not a tunesmith model")
    if version > BUNDLE_VERSION:
        raise TunesmithError(f"'{path}' was made by another tunesmith version (bundle format {version!r}, "
                             f"this one reads up to {BUNDLE_VERSION})")
    model = config.get("model")
    if not isinstance(model, dict):
        raise TunesmithError(f"{file} should describe the model as a JSON object, not {json.dumps(model)[:40]}")
    try:
        return ModelConfig.from_json(model)
    except TunesmithError as exc:
        raise TunesmithError(f"{file} is damaged: {exc}") from None


def _codec(path: Path):
    """codec.json as a codec: any failure to make one is one sentence naming the file."""

    file = path / "codec.json"
    data = read_json(file)
    try:
        codec = codec_from_json(data)
        vocab = codec.vocab_size
    except TunesmithError as exc:
        raise TunesmithError(f"{file} is damaged: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - whatever a damaged codec.json raises, it is one sentence
        raise TunesmithError(f"{file} is damaged ({type(exc).__name__}: {exc})") from None
    if not isinstance(vocab, int) or isinstance(vocab, bool):
        raise TunesmithError(f"{file} is damaged: its vocabulary size is {vocab!r}")
    return codec


def _check_weights_fit(path: Path, config, limit: int) -> None:
    """The size the config describes against `limit`, then the weights' header against the config."""
    from tunesmith.nets.base import parameter_shapes   # here: nets imports torch (~1 s)

    expected = parameter_shapes(config)
    count = sum(math.prod(shape) for shape in expected.values())
    if count > limit:
        raise TunesmithError(f"{path / 'config.json'} describes a model of {count:,} parameters, more than the "
                             f"limit of {limit:,} (set TUNESMITH_MAX_PARAMETERS to load bigger models)")
    weights = path / "weights.safetensors"
    header = weights_header(weights)
    if set(header) != set(expected):
        absent = sorted(set(expected) - set(header))
        extra = sorted(set(header) - set(expected))
        raise TunesmithError(f"the weights in '{path}' do not fit its config "
                             f"(missing {absent[:3]}, unexpected {extra[:3]})")
    for name, (dtype, shape) in header.items():
        if shape != expected[name]:
            raise TunesmithError(f"the weights in '{path}' do not fit its config: {name} is {shape}, the config "
                                 f"{config.to_json()} needs {expected[name]}")
        if dtype not in FLOAT_DTYPES:
            raise TunesmithError(f"{weights} stores {name} as {dtype}; weights are floating-point numbers")


def _finite_tensors(weights: Path) -> dict:
    """The weights, read after their header passed; NaN or infinite ones are refused."""
    import torch   # here: torch costs ~1 s at start-up, and only reading weights needs it
    from safetensors.torch import load_file

    try:
        state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - safetensors raises several kinds for damaged files
        raise TunesmithError(f"{weights} is truncated or corrupt ({exc})") from None
    bad = [name for name, t in state.items() if not bool(torch.isfinite(t).all())]
    if bad:
        raise TunesmithError(f"{weights} holds NaN or infinite weights ({bad[0]}): the training run that made it "
                             f"diverged")
    return state
