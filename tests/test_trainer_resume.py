"""The trainer state is model-type agnostic: a model state of any number of tensors is saved as
hidden.0, hidden.1, ...; runs saved with an LSTM's hidden.h / hidden.c still resume exactly."""

import shutil

import torch
from safetensors.torch import load_file, save_file
from test_train_sample import TINY, folk_corpus

from tunesmith.train import TrainConfig, train
from tunesmith.train.runfolder import load_trainer_state, save_trainer_state

SETTINGS = dict(TINY, eval_every=5, seed=7)


def rewrite_state(last, rename):
    """Rename (or, mapped to None, drop) tensors of last/trainer.safetensors."""
    path = last / "trainer.safetensors"
    tensors = load_file(str(path))
    renamed = {rename.get(k, k): v for k, v in tensors.items()}
    save_file({k: v for k, v in renamed.items() if k is not None}, str(path))


def weights(run):
    return load_file(str(run / "last" / "weights.safetensors"))


def test_a_run_saved_with_old_state_names_resumes_exactly(tmp_path):
    corpus = folk_corpus(tmp_path)
    train(TrainConfig(corpus=[str(corpus)], out=str(tmp_path / "straight"), steps=20, **SETTINGS))
    train(TrainConfig(corpus=[str(corpus)], out=str(tmp_path / "old"), steps=10, **SETTINGS))
    saved = load_file(str(tmp_path / "old" / "last" / "trainer.safetensors"))
    assert {"hidden.0", "hidden.1"} <= set(saved) and "hidden.h" not in saved   # an LSTM's (h, c)
    shutil.copytree(tmp_path / "old", tmp_path / "stateless")
    rewrite_state(tmp_path / "old" / "last", {"hidden.0": "hidden.h", "hidden.1": "hidden.c"})
    rewrite_state(tmp_path / "stateless" / "last", {"hidden.0": None, "hidden.1": None})

    result = train(TrainConfig(corpus=[], out=str(tmp_path / "old"), steps=20), resume=True)
    assert result.steps == 20
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "old")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    resaved = load_file(str(tmp_path / "old" / "last" / "trainer.safetensors"))
    assert {"hidden.0", "hidden.1"} <= set(resaved) and "hidden.h" not in resaved

    # the state matters: resuming without it trains differently, so the renamed one was read
    train(TrainConfig(corpus=[], out=str(tmp_path / "stateless"), steps=20), resume=True)
    c = weights(tmp_path / "stateless")
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_a_state_of_any_number_of_tensors_round_trips(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    for state in [(torch.randn(2, 4, 5),), tuple(torch.randn(1, 4, n) for n in range(1, 12)), None]:
        folder = tmp_path / str(0 if state is None else len(state))
        folder.mkdir()
        save_trainer_state(folder, optimizer, {"step": 3}, state)
        progress, loaded = load_trainer_state(folder, optimizer, torch.device("cpu"))
        assert progress["step"] == 3
        if state is None:
            assert loaded is None
        else:
            assert len(loaded) == len(state) and all(torch.equal(s, t) for s, t in zip(state, loaded))
