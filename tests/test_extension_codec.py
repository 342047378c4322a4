"""A new representation is one file: a codec defined here, over a tiny alphabet, with a decoding
constraint that forbids 'b' right after 'a'. It is registered, trained, sampled under its
constraint, evaluated and composed with, and no other module of tunesmith knows about it."""

import random
from pathlib import Path

import numpy as np
import torch

from tunesmith import compose, corpus
from tunesmith.bundle import load
from tunesmith.codecs import Codec, CodecOptions, Piece, register_codec
from tunesmith.codecs.table_constraint import TableConstraint
from tunesmith.evaluate.likelihood import evaluate
from tunesmith.sample import generate
from tunesmith.train import TrainConfig, train

ALPHABET = "abcd"


@register_codec
class ToyCodec(Codec):
    """One token per letter; a piece is one line of a file."""

    kind = "toy"
    format = "toy"
    extension = ".txt"

    def __init__(self, letters, styles=()):
        self.letters = list(letters)
        self._init_symbols(styles, self.letters)

    @classmethod
    def reader_for(cls, formats, chosen):
        return "lines" if chosen else None      # only when asked for by name: --codec toy

    @classmethod
    def read_files(cls, files, reader, options, show_progress=True):
        return [(str(f), [Piece(f"{f}:{i}", line, "lines") for i, line in enumerate(Path(f).read_text().split())])
                for f in files], []

    @classmethod
    def fit(cls, pieces, options=None, styles=()):
        return cls(sorted({ch for p in pieces for ch in p.text}), styles)

    def encode(self, piece):
        return self._frame([self.index[ch] for ch in piece.text], piece.meta.get("style"), end=True)

    def encode_primer(self, primer, style=None):
        return self._frame([self.index[ch] for ch in primer], style, end=False)

    def decode(self, ids):
        return "".join(self.symbols[i] for i in ids if i >= self.first_word)

    def finish(self, text, number, key=None):
        return text + "\n"

    def constraint(self):
        # state 0: anything may follow; state 1: after an 'a', where 'b' is forbidden
        a, b = self.index["a"], self.index["b"]
        table = torch.zeros(2, self.vocab_size, dtype=torch.long)
        table[:, a] = 1
        table[1, b] = -1
        return TableConstraint(table)

    def to_json(self):
        return {"kind": self.kind, "letters": self.letters, "styles": self.styles}

    @classmethod
    def from_json(cls, data):
        return cls(data["letters"], data.get("styles", []))


def toy_corpus(folder: Path) -> Path:
    """Words where 'ab' is the most common pair: a model left to itself writes it often."""
    rng = random.Random(0)
    words = ["".join(rng.choice(["ab", "ab", "abc", "cd", "da", "b"]) for _ in range(rng.randint(3, 8)))
             for _ in range(300)]
    path = folder / "words.abc"          # a file the corpus reader lists; the toy codec reads its lines
    path.write_text("\n".join(words) + "\n")
    return path


def test_a_codec_in_one_file_trains_samples_under_its_constraint_evaluates_and_composes(tmp_path):
    path = toy_corpus(tmp_path)
    read = corpus.load(str(path), options=CodecOptions(codec="toy"), show_progress=False)
    assert read.codec == "toy" and len(read.pieces) > 100

    result = train(TrainConfig(corpus=[str(path)], out=str(tmp_path / "run"), codec="toy", steps=120, layers=1,
                               hidden=32, embed=8, dropout=0.0, batch_size=16, seq_len=16, eval_every=60,
                               lr=1e-2, preview_length=20))
    assert result.best_val_bits is not None and result.best_val_bits < 2.0   # it learned something
    loaded = load(tmp_path / "run")
    assert isinstance(loaded.codec, ToyCodec)

    constrained = generate(loaded.model, loaded.codec, n=200, seed=3, max_length=40)
    assert all("ab" not in p.text for p in constrained)
    assert sum(len(p.text) for p in constrained) > 200
    # the model itself writes 'ab' often: the constraint, not the model, keeps it out
    loaded.codec.constraint = lambda: None
    free = generate(loaded.model, loaded.codec, n=200, seed=3, max_length=40)
    assert sum("ab" in p.text for p in free) > 50
    del loaded.codec.constraint

    likelihood = evaluate(str(tmp_path / "run"), [str(path)], show_progress=False)
    assert likelihood.pieces == len(read.pieces) and np.isfinite(likelihood.bits_per_token)
    assert likelihood.bits_per_character is None          # no loss unit for this codec

    made = compose.compose(loaded, compose.SampleOptions(n=5, seed=1, max_copy="off", max_length=40),
                           tmp_path / "out", stem="toy")
    assert [p.name for p in made.paths] == [f"toy-00{i}.txt" for i in range(1, 6)]
    texts = [p.read_text().strip() for p in made.paths]
    assert all(set(t) <= set(ALPHABET) and "ab" not in t for t in texts)
    assert made.kept == 5 and not made.dropped


def test_the_table_constraint_follows_rows_as_they_leave_the_batch():
    table = torch.tensor([[0, 0, 1, 0], [0, 0, 1, -1]])     # token 3 never right after token 2
    rule = TableConstraint(table)
    rule.start(3, [0])
    assert rule.allowed().all()
    rule.advance(torch.tensor([2, 3, 2]))
    assert rule.allowed()[:, 3].tolist() == [False, True, False]
    rule.keep(torch.tensor([False, True, True]))             # the first row ended
    assert rule.allowed()[:, 3].tolist() == [True, False]
    assert rule.accepts([0, 2, 2, 3]) == 3 and rule.accepts([0, 3, 2, 1]) is None
