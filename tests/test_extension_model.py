"""A new model type is one file: a small GRU defined and registered here is trained, resumed,
saved, loaded by the architecture its config.json names, sampled, evaluated and composed with,
through the interface the trainer and sampler use and nothing else."""

import json

import numpy as np
import torch
from torch import nn

from tunesmith import compose
from tunesmith.bundle import load
from tunesmith.evaluate.likelihood import evaluate
from tunesmith.nets import LanguageModel, register_model
from tunesmith.sample import generate
from tunesmith.train import TrainConfig, train

from test_train_sample import folk_corpus


@register_model("toygru")
class ToyGRU(LanguageModel):
    def __init__(self, config):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.embed)
        self.rnn = nn.GRU(config.embed, config.hidden, num_layers=config.layers, batch_first=True)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward(self, ids, state=None):
        out, h = self.rnn(self.embed(ids), None if state is None else state[0])
        return self.head(out), (h,)

    def zero_state(self, batch, device="cpu"):
        return (torch.zeros(self.config.layers, batch, self.config.hidden, device=device),)


SHAPE = dict(architecture="toygru", layers=1, hidden=32, embed=16, dropout=0.0, batch_size=4, seq_len=32,
             eval_every=10, preview_length=50)


def test_a_model_type_in_one_file_trains_resumes_samples_evaluates_and_composes(tmp_path):
    corpus = folk_corpus(tmp_path)
    train(TrainConfig(corpus=[str(corpus)], out=str(tmp_path / "straight"), steps=20, **SHAPE))
    train(TrainConfig(corpus=[str(corpus)], out=str(tmp_path / "halves"), steps=10, **SHAPE))
    resumed = train(TrainConfig(corpus=[], out=str(tmp_path / "halves"), steps=20), resume=True)
    assert resumed.steps == 20
    straight, halves = load(tmp_path / "straight" / "last"), load(tmp_path / "halves" / "last")
    for a, b in zip(straight.model.state_dict().values(), halves.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5)        # a resumed run is the same run, whatever the model type

    config = json.loads((tmp_path / "straight" / "best" / "config.json").read_text())
    assert config["model"]["architecture"] == "toygru"
    loaded = load(tmp_path / "straight")
    assert isinstance(loaded.model, ToyGRU)

    pieces = generate(loaded.model, loaded.codec, n=4, seed=1, max_length=200)
    assert len(pieces) == 4 and all(p.text for p in pieces)
    again = generate(loaded.model, loaded.codec, n=4, seed=1, max_length=200)
    assert [p.text for p in pieces] == [p.text for p in again]

    likelihood = evaluate(str(tmp_path / "straight"), [str(corpus)], show_progress=False)
    assert np.isfinite(likelihood.bits_per_token) and likelihood.bits_per_character is not None

    made = compose.compose(loaded, compose.SampleOptions(n=2, seed=1, max_copy="off", max_length=200),
                           tmp_path / "out", stem="gru")
    assert [p.suffix for p in made.paths] == [".abc", ".abc"]
    assert all(p.read_text().startswith("X:") for p in made.paths)
