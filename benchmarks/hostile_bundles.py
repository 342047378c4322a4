"""Damaged model bundles: does `tunesmith sample` answer each with one line `error: ...` and exit
status 2, and does `tunesmith models` list each with its problem, never a traceback?

    python benchmarks/hostile_bundles.py                   # damages a tiny model it trains first
    python benchmarks/hostile_bundles.py --model runs/x    # damages copies of this bundle (or run)

From one good bundle it makes 90 damaged copies (`VARIANTS`): every field
of config.json of the wrong type, null, negative, huge or NaN; config.json,
codec.json and card.json that are not JSON, not objects, or of the wrong types;
each file missing, or a folder; weights truncated, garbage, from another model,
NaN or infinite, of an integer dtype, with a tensor more or less, or a header
that lies (about its length, or about huge tensors the file does not hold).
It runs `tunesmith sample` and `tunesmith models` on them in this process and
prints, per variant, what came back, then the counts. tests/test_hardening_bundle.py
runs the same variants.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import shutil
import struct
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable

MODEL_FIELDS = ("architecture", "layers", "hidden", "embed", "dropout", "vocab_size")
WRONG = {"string": "32", "null": None, "negative": -3, "huge": 10 ** 12, "nan": math.nan}


# ---- how a bundle is damaged ----------------------------------------------------------------------

def _json(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text())


def _write(folder: Path, name: str, data) -> None:
    (folder / name).write_text(json.dumps(data))


def model_field(name: str, value) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        config = _json(folder, "config.json")
        config["model"][name] = value
        _write(folder, "config.json", config)
    return damage


def config_entry(name: str, value) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        config = _json(folder, "config.json")
        config[name] = value
        _write(folder, "config.json", config)
    return damage


def codec_entry(name: str, value) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        codec = _json(folder, "codec.json")
        if value is KeyError:
            codec.pop(name, None)
        else:
            codec[name] = value
        _write(folder, "codec.json", codec)
    return damage


def text(name: str, content: str | bytes) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return damage


def missing(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def a_folder(name: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()
    return damage


def cut(fraction: float | None = None, size: int | None = None) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        data = (folder / "weights.safetensors").read_bytes()
        (folder / "weights.safetensors").write_bytes(data[:size if size is not None else int(len(data) * fraction)])
    return damage


def tensors(change: Callable[[dict], dict]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        from safetensors.torch import load_file, save_file

        state = load_file(str(folder / "weights.safetensors"))
        save_file(change(dict(state)), str(folder / "weights.safetensors"))
    return damage


def _poison(value: float) -> Callable[[dict], dict]:
    def change(state: dict) -> dict:
        name = sorted(state)[0]
        state[name] = state[name].clone()
        state[name].view(-1)[0] = value
        return state
    return change


def _as_int(state: dict) -> dict:
    import torch

    name = sorted(state)[0]
    state[name] = state[name].to(torch.int64)
    return state


def _transposed(state: dict) -> dict:
    name = next(n for n in sorted(state) if state[n].dim() == 2 and state[n].shape[0] != state[n].shape[1])
    state[name] = state[name].t().contiguous()
    return state


def _extra(state: dict) -> dict:
    import torch

    state["extra.weight"] = torch.zeros(3)
    return state


def _without_one(state: dict) -> dict:
    state.pop(sorted(state)[-1])
    return state


def header(entries: dict | None = None, length: int | None = None, body: bytes = b"") -> Callable[[Path], None]:
    """Weights that are only a safetensors header (a lie about `length`, or `entries` the body lacks)."""
    def damage(folder: Path) -> None:
        raw = json.dumps(entries if entries is not None else {}).encode()
        size = length if length is not None else len(raw)
        (folder / "weights.safetensors").write_bytes(struct.pack("<Q", size) + raw + body)
    return damage


def huge_consistent(folder: Path) -> None:
    """A config of 16 layers × 8192 and a header claiming exactly the tensors it needs, no data."""
    from tunesmith.nets.base import ModelConfig, parameter_shapes

    config = _json(folder, "config.json")
    config["model"].update(layers=16, hidden=8192, embed=8192)
    _write(folder, "config.json", config)
    entries, offset = {}, 0
    for name, shape in parameter_shapes(ModelConfig.from_json(config["model"])).items():
        size = 4 * math.prod(shape)
        entries[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header(entries, body=b"\0" * 4096)(folder)


def swapped(other: Path) -> Callable[[Path], None]:
    return lambda folder: shutil.copyfile(other / "weights.safetensors", folder / "weights.safetensors")


def variants(other: Path) -> list[tuple[str, Callable[[Path], None]]]:
    """(name, damage) for every damaged copy; `other` is a bundle of another shape (swapped weights)."""
    found = [(f"model-{f}-{kind}", model_field(f, value)) for f in MODEL_FIELDS for kind, value in WRONG.items()]
    found += [
        ("model-layers-bool", model_field("layers", True)), ("model-hidden-float", model_field("hidden", 32.0)),
        ("model-dropout-infinite", model_field("dropout", math.inf)),
        ("model-architecture-list", model_field("architecture", ["lstm"])),
        ("model-architecture-unknown", model_field("architecture", "transformer")),
        ("model-unknown-entry", model_field("heads", 4)), ("model-memory-bomb", lambda f: (
            model_field("layers", 16)(f), model_field("hidden", 8192)(f), model_field("embed", 8192)(f))),
        ("config-model-null", config_entry("model", None)), ("config-model-list", config_entry("model", [1])),
        ("config-model-string", config_entry("model", "lstm")), ("config-model-empty", config_entry("model", {})),
        ("config-version-string", config_entry("bundle_version", "1")),
        ("config-version-future", config_entry("bundle_version", 99)),
        ("config-version-bool", config_entry("bundle_version", True)),
        ("config-not-json", text("config.json", "{model")), ("config-list", text("config.json", "[]")),
        ("config-empty", text("config.json", "")), ("config-deep", text("config.json", "[" * 100000)),
        ("codec-kind-list", codec_entry("kind", ["chars"])), ("codec-kind-null", codec_entry("kind", None)),
        ("codec-kind-unknown", codec_entry("kind", "words")), ("codec-chars-number", codec_entry("chars", 5)),
        ("codec-chars-null", codec_entry("chars", None)), ("codec-chars-missing", codec_entry("chars", KeyError)),
        ("codec-chars-numbers", lambda f: codec_entry("chars", list(range(len(_json(f, "codec.json")["chars"]))))(f)),
        ("codec-chars-fewer", lambda f: codec_entry("chars", _json(f, "codec.json")["chars"][:-2])(f)),
        ("codec-styles-number", codec_entry("styles", 7)), ("codec-format-number", codec_entry("format", 3)),
        ("codec-not-json", text("codec.json", "{kind")), ("codec-list", text("codec.json", "[]")),
        ("codec-empty-object", text("codec.json", "{}")), ("codec-binary", text("codec.json", b"\xff\xfe\x00")),
        ("card-not-json", text("card.json", "{oops")), ("card-list", text("card.json", "[1, 2]")),
        ("card-null", text("card.json", "null")), ("card-binary", text("card.json", b"\xff\xff\xff")),
        ("card-folder", a_folder("card.json")),
        ("missing-config", missing("config.json")), ("missing-codec", missing("codec.json")),
        ("missing-weights", missing("weights.safetensors")), ("missing-card", missing("card.json")),
        ("config-folder", a_folder("config.json")), ("weights-folder", a_folder("weights.safetensors")),
        ("weights-half", cut(0.5)), ("weights-100-bytes", cut(size=100)), ("weights-7-bytes", cut(size=7)),
        ("weights-empty", cut(size=0)), ("weights-garbage", text("weights.safetensors", b"\x13\x37" * 5000)),
        ("weights-header-too-long", header(length=10 ** 15)), ("weights-header-not-json", text(
            "weights.safetensors", struct.pack("<Q", 8) + b"notjson!")),
        ("weights-header-list", header([])), ("weights-header-bad-offsets", header(
            {"embed.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 999]}}, body=b"\0" * 16)),
        ("weights-huge-consistent-header", huge_consistent),
        ("weights-swapped", swapped(other)), ("weights-nan", tensors(_poison(math.nan))),
        ("weights-inf", tensors(_poison(math.inf))), ("weights-int64", tensors(_as_int)),
        ("weights-transposed", tensors(_transposed)), ("weights-extra-tensor", tensors(_extra)),
        ("weights-missing-tensor", tensors(_without_one)),
    ]
    return found


def other_bundle(good: Path, dest: Path) -> Path:
    """A bundle with the good one's codec and another shape (its weights are the 'swapped' ones)."""
    from tunesmith import bundle
    from tunesmith.nets import ModelConfig, build_model

    loaded = bundle.load(good)
    shape = {**loaded.model.config.to_json(), "hidden": loaded.model.config.hidden + 8}
    return bundle.save(dest, build_model(ModelConfig.from_json(shape)), loaded.codec, {"corpus": "other"})


def build(good: Path, dest: Path) -> list[Path]:
    """Damaged copies of the bundle `good` in `dest`, one folder per variant."""
    dest.mkdir(parents=True, exist_ok=True)
    other = other_bundle(good, dest.parent / f"{dest.name}-other")
    made = []
    chosen = variants(other)
    assert len({name for name, _ in chosen}) == len(chosen), "two variants share a name"
    for name, damage in chosen:
        folder = dest / name
        shutil.copytree(good, folder)
        damage(folder)
        made.append(folder)
    return made


# ---- what tunesmith answers -------------------------------------------------------------------------

def run_cli(argv: list[str]) -> tuple[int | None, str, str, str | None]:
    """(exit status, stdout, stderr, a traceback if the command raised) of `tunesmith ARGV` here."""
    from tunesmith import cli

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:   # noqa: BLE001 - what is counted here
            return None, out.getvalue(), err.getvalue(), traceback.format_exc()
    return code, out.getvalue(), err.getvalue(), None


def sample_verdict(folder: Path, out: Path) -> tuple[str, str]:
    """('error', the line) for one line `error: ...` and status 2; else ('traceback' | 'accepted' | 'other', why)."""
    code, _, err, trace = run_cli(["-q", "sample", str(folder), "-n", "1", "--max-length", "20", "--seed", "1",
                                   "-o", str(out)])
    lines = [line for line in err.splitlines() if line.strip()]
    if trace is not None or "Traceback" in err:
        return "traceback", (trace or err).strip().splitlines()[-1]
    if code == 0:
        return "accepted", "sampled without an error"
    if code == 2 and len(lines) == 1 and lines[0].startswith("error: "):
        return "error", lines[0]
    return "other", f"status {code}: {err.strip()[-300:]}"


def listed_problems(folder: Path) -> tuple[dict[str, str | None], str | None]:
    """{name: problem} of the models in `folder` from `tunesmith models --json --models FOLDER`, or
    the traceback it raised."""
    code, out, err, trace = run_cli(["models", "--models", str(folder), "--json"])
    if trace is not None or code != 0:
        return {}, trace or err
    return {e["name"]: e["problem"] for e in json.loads(out) if Path(e["path"]).parent == folder}, None


def tiny_model(folder: Path) -> Path:
    """A model trained for a few steps on a small generated ABC book."""
    from tunesmith import log
    from tunesmith.train import TrainConfig, train

    tunes = [f"X: {i + 1}\nT:Tune {i}\nM:4/4\nK:G\n" + "|".join(["GABc dedB", "A2FA dAFA", "d2fd cAGF"][(i + j) % 3]
                                                               for j in range(4)) + "|]\n" for i in range(12)]
    (folder / "book.abc").write_text("\n".join(tunes))
    log.set_quiet(True)
    train(TrainConfig(corpus=[str(folder / "book.abc")], out=str(folder / "run"), steps=5, layers=1, hidden=16,
                      embed=8, batch_size=4, seq_len=32, eval_every=5, preview_length=10, copy_index=False))
    return folder / "run" / "best"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="the bundle (or run folder) to damage copies of (default: train a tiny one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from tunesmith import bundle

        good = bundle.resolve(args.model) if args.model else tiny_model(tmp)
        folders = build(good, tmp / "damaged")
        counts: dict[str, int] = {}
        for folder in folders:
            verdict, line = sample_verdict(folder, tmp / "out")
            counts[verdict] = counts.get(verdict, 0) + 1
            print(f"{folder.name:<34} {verdict:<9} {line[:150]}")
        problems, trace = listed_problems(tmp / "damaged")
        unflagged = [f.name for f in folders if f.name in problems and problems[f.name] is None]
        print(f"\n{len(folders)} damaged bundles, sample: {counts.get('error', 0)} one-line errors, "
              f"{counts.get('traceback', 0)} tracebacks, {counts.get('accepted', 0)} accepted, "
              f"{counts.get('other', 0)} other")
        print("models: " + ("a traceback: " + trace.strip().splitlines()[-1] if trace else
                            f"{len(problems)} listed, {len(problems) - len(unflagged)} with a problem"
                            + (f" (none for: {', '.join(unflagged)})" if unflagged else "")))
        return 0 if counts.get("error", 0) == len(folders) and not trace and not unflagged else 1


if __name__ == "__main__":
    sys.exit(main())
