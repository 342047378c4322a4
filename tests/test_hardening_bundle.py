"""Issue 18, bundles: a model folder within the bounds can no longer exhaust memory (its size is
checked from config.json and the safetensors header before anything is built), and every kind of
damage (types in config.json and codec.json, files missing, weights truncated, swapped, NaN, of
the wrong dtype) is one line `error: ...` from `tunesmith sample` and a problem in `tunesmith models`."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tunesmith import TunesmithError, bundle, registry
from tunesmith.nets import ARCHITECTURES, ModelConfig, build_model
from tunesmith.nets.base import parameter_shapes
from tunesmith.sample import generate
from tunesmith.train import TrainConfig, train

from test_train_sample import TINY, folk_corpus

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import hostile_bundles  # noqa: E402

BOMB = dict(layers=16, hidden=8192, embed=8192)   # 8.6 billion parameters: 34 GB of float32


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("good")
    train(TrainConfig(corpus=[str(folk_corpus(tmp))], out=str(tmp / "run"), steps=5, copy_index=False,
                      **dict(TINY, eval_every=5)))
    return tmp / "run" / "best"


@pytest.fixture(autouse=True)
def no_limit_from_outside(monkeypatch):
    monkeypatch.delenv("TUNESMITH_MAX_PARAMETERS", raising=False)


def bomb_copy(good, dest, header_only=False):
    """`good` with the memory-bomb config; its small weights as they are, or (header_only) a
    safetensors header claiming every tensor the config needs and no data behind it."""
    import shutil

    shutil.copytree(good, dest)
    (hostile_bundles.huge_consistent if header_only else hostile_bundles.model_field("layers", 16))(dest)
    if not header_only:
        config = json.loads((dest / "config.json").read_text())
        config["model"].update(BOMB)
        (dest / "config.json").write_text(json.dumps(config))
    return dest


# What the web server was OOM-killed on: in a fresh process, the time and the growth of its peak
# memory (ru_maxrss, KB) from before the load to after its refusal.
MEASURE = """
import json, resource, sys, time
from tunesmith import TunesmithError, bundle
results = []
for path, limit in json.loads(sys.argv[1]):
    before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    try:
        bundle.load(path, max_parameters=limit)
        error = None
    except TunesmithError as exc:
        error = str(exc)
    results.append({"error": error, "seconds": time.perf_counter() - start,
                    "grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024})
print(json.dumps(results))
"""


def test_a_bundle_within_the_bounds_cannot_exhaust_memory(good, tmp_path):
    small_weights = bomb_copy(good, tmp_path / "bomb")
    fake_header = bomb_copy(good, tmp_path / "header", header_only=True)
    assert (fake_header / "weights.safetensors").stat().st_size < 100_000   # it claims 34 GB
    cases = [(str(small_weights), None), (str(small_weights), 10 ** 12),
             (str(fake_header), None), (str(fake_header), 10 ** 12)]
    done = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(cases)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    for r in results:
        assert r["error"] is not None and "\n" not in r["error"]
        assert r["seconds"] < 5 and r["grew_mb"] < 200, r
    # the default limit refuses the size, naming the file and the numbers
    config = ModelConfig.from_json(json.loads((small_weights / "config.json").read_text())["model"])
    count = sum(math.prod(s) for s in parameter_shapes(config).values())
    assert count > 8e9
    assert results[0]["error"] == (f"{small_weights / 'config.json'} describes a model of {count:,} "
                                   f"parameters, more than the limit of 200,000,000 (set TUNESMITH_MAX_PARAMETERS "
                                   f"to load bigger models)")
    assert "more than the limit" in results[2]["error"]
    # a higher limit: the small weights do not fit the config, the header's tensors are not in the file
    assert "do not fit its config" in results[1]["error"]
    assert "truncated or corrupt" in results[3]["error"] and "ends at byte" in results[3]["error"]


def test_the_parameter_limit_is_a_setting(good, tmp_path, monkeypatch):
    shape = parameter_shapes(bundle.load(good).model.config)
    count = sum(math.prod(s) for s in shape.values())
    with pytest.raises(TunesmithError, match=f"{count:,} parameters, more than the limit of 1,000"):
        bundle.load(good, max_parameters=1000)
    monkeypatch.setenv("TUNESMITH_MAX_PARAMETERS", str(count - 1))
    with pytest.raises(TunesmithError, match="more than the limit"):
        bundle.load(good)
    monkeypatch.setenv("TUNESMITH_MAX_PARAMETERS", str(count))
    assert bundle.load(good).model.num_parameters() == count
    monkeypatch.setenv("TUNESMITH_MAX_PARAMETERS", "lots")
    with pytest.raises(TunesmithError, match="TUNESMITH_MAX_PARAMETERS must be a positive whole number"):
        bundle.load(good)


def test_every_model_type_states_its_shapes_without_memory():
    config = ModelConfig(vocab_size=40, layers=2, hidden=24, embed=12, dropout=0.1)
    for name in ARCHITECTURES:
        cfg = ModelConfig.from_json({**config.to_json(), "architecture": name})
        built = {k: tuple(v.shape) for k, v in build_model(cfg).state_dict().items()}
        assert parameter_shapes(cfg) == built, name
    assert sum(math.prod(s) for s in parameter_shapes(ModelConfig(vocab_size=50, **BOMB)).values()) > 8e9


@pytest.mark.parametrize("entry, value, words", [
    ("hidden", "32", "hidden must be a whole number, not '32'"),
    ("layers", True, "layers must be a whole number, not True"),
    ("hidden", 32.0, "hidden must be a whole number, not 32.0"),
    ("dropout", float("nan"), "dropout must be a finite number, not nan"),
    ("architecture", ["lstm"], "architecture must be a string, not ['lstm']"),
    ("embed", -1, "embed must be between 1 and 8192, not -1"),
    ("vocab_size", None, "vocab_size must be a whole number, not None"),
])
def test_model_config_checks_types_bounds_and_finiteness(entry, value, words):
    with pytest.raises(TunesmithError) as caught:
        ModelConfig.from_json({"vocab_size": 30, entry: value})
    assert str(caught.value) == words
    with pytest.raises(TunesmithError, match="must be a JSON object"):
        ModelConfig.from_json(None)


def test_every_damaged_bundle_is_one_line_in_sample_and_a_problem_in_models(good, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("TUNESMITH_MODELS", raising=False)
    folders = hostile_bundles.build(good, tmp_path / "damaged")
    assert len(folders) >= 73
    verdicts = {f.name: hostile_bundles.sample_verdict(f, tmp_path / "out") for f in folders}
    assert {name: v for name, v in verdicts.items() if v[0] != "error"} == {}
    assert "config.json is damaged: hidden must be a whole number, not '32'" in verdicts["model-hidden-string"][1]
    assert "codec-kind-list/codec.json" in verdicts["codec-kind-list"][1]
    assert verdicts["weights-nan"][1].endswith("holds NaN or infinite weights (embed.weight): the training run "
                                               "that made it diverged")
    problems, trace = hostile_bundles.listed_problems(tmp_path / "damaged")
    assert trace is None
    assert set(problems) == {f.name for f in folders}
    assert [name for name, problem in problems.items() if not problem] == []
    # the good one is listed without a problem, and sampled
    assert hostile_bundles.listed_problems(good.parent)[0]["best"] is None
    assert hostile_bundles.sample_verdict(good, tmp_path / "out")[0] == "accepted"


def test_a_listing_checks_a_bundle_again_only_when_its_files_change(good, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(good, tmp_path / "models" / "m")
    monkeypatch.setattr(registry, "_checked", {})
    calls = []
    real = registry.check_bundle
    mine = tmp_path / "models" / "m"
    monkeypatch.setattr(registry, "check_bundle", lambda *a, **k: calls.append(a[0] == mine) or real(*a, **k))
    entries = [e for e in registry.models([str(tmp_path / "models")]) if e.name == "m"]
    registry.models([str(tmp_path / "models")])
    assert sum(calls) == 1 and entries[0].problem is None
    hostile_bundles.tensors(hostile_bundles._poison(math.inf))(tmp_path / "models" / "m")
    entry = next(e for e in registry.models([str(tmp_path / "models")]) if e.name == "m")
    assert sum(calls) == 2 and "NaN or infinite" in entry.problem


def test_sampling_never_indexes_with_nan(good):
    loaded = bundle.load(good)
    with torch.no_grad():
        loaded.model.head.bias.fill_(float("nan"))
    with pytest.raises(TunesmithError, match="NaN or infinite scores while sampling"):
        generate(loaded.model, loaded.codec, n=3, max_length=50, seed=1)
    with torch.no_grad():   # finite weights whose scores overflow at a low temperature
        loaded.model.head.bias.fill_(3e38)
    with pytest.raises(TunesmithError, match="NaN or infinite scores"):
        generate(loaded.model, loaded.codec, n=2, temperature=0.5, max_length=50, seed=1)
