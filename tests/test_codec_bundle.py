import json

import numpy as np
import pytest
import torch

from tunesmith import TunesmithError, bundle
from tunesmith.codecs import CharCodec, codec_from_json
from tunesmith.corpus import Piece
from tunesmith.nets.lstm import LSTMModel, ModelConfig

PIECES = [Piece("a", "X:1\nT:a\nM:4/4\nL:1/8\nK:G\nGABc|\n", "abc"),
          Piece("b", "X:1\nT:b\nM:6/8\nL:1/8\nK:D\ndef|\n", "abc")]


def make_codec():
    return CharCodec.fit(PIECES)


def test_codec_round_trip_and_json():
    codec = make_codec()
    ids = codec.encode(PIECES[0])
    assert ids[0] == codec.BOS and ids[-1] == codec.EOS
    assert codec.decode(ids) == PIECES[0].text
    again = codec_from_json(json.loads(json.dumps(codec.to_json())))
    assert again.symbols == codec.symbols
    assert np.array_equal(again.encode(PIECES[1]), codec.encode(PIECES[1]))


def test_unknown_primer_character_is_named():
    codec = make_codec()
    with pytest.raises(TunesmithError, match=r"'Z'.*LATIN CAPITAL LETTER Z.*character 5"):
        codec.encode_primer("X:1\nZ")


def test_primer_is_normalised_before_encoding():
    codec = make_codec()
    assert codec.decode(codec.encode_primer("X: 1\n")) == "X:1\n"


def _bundle(tmp_path, hidden=16):
    codec = make_codec()
    model = LSTMModel(ModelConfig(codec.vocab_size, layers=2, hidden=hidden, embed=8, dropout=0.1))
    return bundle.save(tmp_path / "m", model, codec, {"corpus": "test"}), model


def test_bundle_round_trip(tmp_path):
    path, model = _bundle(tmp_path)
    assert sorted(p.name for p in path.iterdir()) == sorted(bundle.FILES)
    loaded = bundle.load(path)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v)
    assert loaded.card["corpus"] == "test" and "tunesmith_version" in loaded.card
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary folder left


def test_truncated_weights_are_one_sentence(tmp_path):
    path, _ = _bundle(tmp_path)
    weights = path / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(TunesmithError, match="truncated or corrupt"):
        bundle.load(path)


def test_missing_file_and_mismatches_are_named(tmp_path):
    path, _ = _bundle(tmp_path)
    (path / "card.json").unlink()
    with pytest.raises(TunesmithError, match="missing card.json"):
        bundle.load(path)
    path, _ = _bundle(tmp_path)
    config = json.loads((path / "config.json").read_text())
    config["model"]["hidden"] = 32
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(TunesmithError, match="do not fit its config"):
        bundle.load(path)
    path, _ = _bundle(tmp_path)
    codec = json.loads((path / "codec.json").read_text())
    codec["chars"] = codec["chars"][:-2]
    (path / "codec.json").write_text(json.dumps(codec))
    with pytest.raises(TunesmithError, match="codec belongs to another model"):
        bundle.load(path)
    (path / "codec.json").write_text("{not json")
    with pytest.raises(TunesmithError, match="not valid JSON"):
        bundle.load(path)
    with pytest.raises(TunesmithError, match="no model at"):
        bundle.load(tmp_path / "nothing")
