"""A model is a folder you can copy: config.json, codec.json, weights.safetensors, card.json.

Weights are safetensors, never pickle: loading a model runs no code. Loading
checks that every file is there, readable and consistent, and says what is
wrong in one sentence (`registry.check_bundle`): the config's types and bounds,
the codec, the weights' names, dtypes and shapes read from the safetensors
header against the config, the model's size against a limit
(`max_parameters`, $TUNESMITH_MAX_PARAMETERS, default 200 million) and that
every weight is a finite number, all before the model is built.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import save_file

from tunesmith import TunesmithError, __version__, atomic, registry
from tunesmith.codecs import Codec
from tunesmith.nets import LanguageModel, build_model
from tunesmith.registry import BUNDLE_VERSION, FILES


@dataclass
class Bundle:
    model: LanguageModel
    codec: Codec
    card: dict
    path: Path | None = None


def write_files(folder: Path, model: LanguageModel, codec: Codec, card: dict, dtype: torch.dtype | None = None,
                extra: Callable[[Path], object] | None = None) -> None:
    """Write the bundle's files into an existing folder (use `save` for an atomic bundle).
    `extra(folder)` writes more files beside them (the index of the training corpus)."""
    state = {k: v.detach().to("cpu", dtype or v.dtype).contiguous() for k, v in model.state_dict().items()}
    card = {"tunesmith_version": __version__, **card}
    (folder / "config.json").write_text(json.dumps(
        {"bundle_version": BUNDLE_VERSION, "model": model.config.to_json()}, indent=2) + "\n")
    (folder / "codec.json").write_text(json.dumps(codec.to_json(), ensure_ascii=False, indent=1) + "\n")
    save_file(state, str(folder / "weights.safetensors"), metadata={"format": "pt"})
    (folder / "weights.safetensors").chmod(atomic.FILE_MODE)
    (folder / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    if extra is not None:
        extra(folder)


def save(path: str | Path, model: LanguageModel, codec: Codec, card: dict, dtype: torch.dtype | None = None,
         extra: Callable[[Path], object] | None = None) -> Path:
    """Write a bundle folder atomically (a half-written bundle never appears)."""
    with atomic.folder(path) as tmp:
        write_files(tmp, model, codec, card, dtype, extra)
    return Path(path)


SELECT_FILE = "select.json"   # written by `tunesmith select` into a run folder


def resolve(path: str | Path, models: list[str] | None = None) -> Path:
    """A bundle folder; a run folder (the checkpoint `select` recommended, else its best, else its
    last); or the name of a model on the search path (`registry`), such as a shipped one."""
    path = Path(path).expanduser()
    if not path.exists():
        if len(path.parts) == 1 and not str(path).startswith("."):
            return registry.find(str(path), models)
        raise TunesmithError(f"no model at '{path}'")
    if (path / "config.json").exists() or not path.is_dir():
        return path
    try:
        chosen = path / json.loads((path / SELECT_FILE).read_text())["recommended"]
        if (chosen / "config.json").exists():
            return chosen
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for name in ("best", "last"):
        if (path / name / "config.json").exists():
            return path / name
    raise TunesmithError(f"'{path}' is neither a model folder nor a training run with a checkpoint")


def load(path: str | Path, device: str | torch.device = "cpu", models: list[str] | None = None,
         max_parameters: int | None = None) -> Bundle:
    """The bundle `path` resolves to, its files checked before anything is built (a model bigger
    than `max_parameters`, default $TUNESMITH_MAX_PARAMETERS or 200 million, is refused)."""
    path = resolve(path, models)
    checked = registry.check_bundle(path, max_parameters)
    model = build_model(checked.config)
    model.load_state_dict({k: v.float() for k, v in checked.tensors.items()})
    model.to(device).eval()
    return Bundle(model, checked.codec, checked.card, path)


def export(source: str | Path, dest: str | Path, half: bool = False, recipe: str | None = None) -> Path:
    """Copy the bundle `source` resolves to (a run folder: its recommended, else best checkpoint)
    into a new bundle folder `dest`: the weights in fp16 where `half` (half the size; sampling
    computes in fp32 all the same), the other files as they are, the card completed with the
    model's shape, `recipe`, the train command that made it (`train.recipe_of`), and the controls
    the codec knows (`Codec.controls`: value → corpus pieces)."""
    loaded = load(source)
    dest = Path(dest)
    if dest.exists():
        raise TunesmithError(f"'{dest}' exists; export writes a new folder")
    cfg = loaded.model.config
    params = loaded.model.num_parameters()
    merged = {**loaded.card, "model": f"{loaded.model.describe()}, embedding {cfg.embed}, "
                                      f"{params / 1e6:.2f}M parameters",
              "weights_dtype": "float16" if half else "float32"}
    if recipe and "recipe" not in merged:
        merged["recipe"] = recipe
    known = loaded.codec.controls()
    if known:       # what --meter/--key/--mode/--rhythm take, with how many corpus pieces had each
        merged["controls"] = known
    if "run" in merged:       # the folder it was trained in, without this machine's path
        merged["run"] = Path(str(merged["run"])).name
    merged.pop("tunesmith_version", None)   # write_files stamps this version

    def others(folder: Path) -> None:
        for f in sorted(loaded.path.iterdir()):
            if f.is_file() and f.name not in FILES:
                shutil.copyfile(f, folder / f.name)

    return save(dest, loaded.model, loaded.codec, merged, torch.float16 if half else None, others)
