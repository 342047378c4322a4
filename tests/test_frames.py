"""The grid-aware LSTM (`--architecture frames`) and `--valid-split` (the benchmarks' protocol)."""

import json

import pytest
import torch

from test_grid import TINY, roll_file
from tunesmith import TunesmithError, bundle, cli
from tunesmith.nets import ModelConfig, build_model
from tunesmith.nets.frames import KEYS, STEP
from tunesmith.sample import generate
from tunesmith.train import TrainConfig, train


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))


def small_model(vocab=20):
    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=vocab, architecture="frames", layers=2, hidden=16, embed=8,
                                    dropout=0.0))
    role = torch.full((vocab,), -1.0)
    role[5] = STEP
    role[6:vocab] = torch.arange(50, 50 + vocab - 6).float()
    model.token_role.copy_(role)
    return model.eval(), role


def reference(role, ids, before, now):
    """The two vectors token by token, as the docstring defines them."""
    before, now, befores, nows = before.clone(), now.clone(), [], []
    for t in range(ids.size(1)):
        for b in range(ids.size(0)):
            r = role[ids[b, t]].item()
            if r == STEP:
                before[b], now[b] = now[b], 0
            elif r >= 0:
                now[b, int(r)] = 1
        befores.append(before.clone())
        nows.append(now.clone())
    return torch.stack(befores, 1), torch.stack(nows, 1)


def test_the_grid_vectors_match_a_step_by_step_reading():
    model, role = small_model()
    generator = torch.Generator().manual_seed(3)
    for trial in range(5):
        ids = torch.randint(0, 20, (3, 41), generator=generator)
        ids[:, ::3 + trial] = 5
        ids[0, :7] = torch.tensor([7, 8, 9, 10, 11, 12, 13])      # a run without any step token
        before = (torch.rand(3, KEYS, generator=generator) > 0.9).float()
        now = (torch.rand(3, KEYS, generator=generator) > 0.9).float()
        got_before, got_now, (end_before, end_now) = model.features(ids, before, now)
        want_before, want_now = reference(role, ids, before, now)
        assert torch.equal(got_before, want_before) and torch.equal(got_now, want_now)
        assert torch.equal(end_before, want_before[:, -1]) and torch.equal(end_now, want_now[:, -1])


def test_chunks_and_one_token_steps_give_the_whole_sequence_s_logits():
    model, _ = small_model()
    ids = torch.randint(0, 20, (3, 40), generator=torch.Generator().manual_seed(1))
    ids[:, ::4] = 5
    whole, _ = model(ids)
    first, state = model(ids[:, :17])
    second, _ = model(ids[:, 17:], state)
    assert torch.allclose(torch.cat([first, second], 1), whole, atol=1e-5)
    stepper = model.stepper(model.zero_state(3))
    stepped = torch.stack([stepper(ids[:, t]) for t in range(40)], 1)
    assert torch.allclose(stepped, whole, atol=1e-5)


def test_frames_trains_on_a_roll_with_its_valid_split_and_samples(tmp_path, capsys):
    path = roll_file(tmp_path / "r.json", pieces=16)
    run = tmp_path / "run"
    train(TrainConfig(corpus=[str(path)], out=str(run), steps=20, codec="grid", grid="1/4", onsets=False,
                      split="train", valid_split="valid", architecture="frames", **TINY))
    split = json.loads((run / "run.json").read_text())["split"]
    assert len(split["train"]) == 16 and len(split["valid"]) == 3
    assert all("#valid/" in name for name in split["valid"]) and all("#train/" in n for n in split["train"])
    loaded = bundle.load(run)
    roles = {sym: loaded.model.token_role[i].item() for i, sym in enumerate(loaded.codec.symbols)}
    assert roles["_"] == STEP and roles["p60"] == 60 and roles["</s>"] == -1
    pieces = generate(loaded.model, loaded.codec, n=3, max_length=300, seed=2)
    assert all(loaded.codec.piece_of(p.text).steps for p in pieces)
    assert cli.main(["-q", "evaluate", str(run), "--data", str(path), "--split", "valid", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 27
    half = bundle.export(run, tmp_path / "half", half=True)
    assert torch.equal(bundle.load(half).model.token_role, loaded.model.token_role)
    # a resumed run finds its held split again
    train(TrainConfig(corpus=[str(path)], out=str(run), steps=30, codec="grid", grid="1/4", onsets=False,
                      split="train", valid_split="valid", architecture="frames", **TINY), resume=True)
    assert json.loads((run / "run.json").read_text())["split"] == split


def test_frames_and_valid_split_refuse_what_they_cannot_read(tmp_path):
    path = roll_file(tmp_path / "r.json")
    with pytest.raises(TunesmithError, match="--layout pitch or voices"):
        train(TrainConfig(corpus=[str(path)], out=str(tmp_path / "a"), steps=2, codec="grid", grid="1/4",
                          split="train", layout="intervals", architecture="frames", **TINY))
    with pytest.raises(TunesmithError, match="the split the model trains on"):
        train(TrainConfig(corpus=[str(path)], out=str(tmp_path / "b"), steps=2, codec="grid", grid="1/4",
                          split="train", valid_split="train", **TINY))
    with pytest.raises(TunesmithError, match="no split 'test'"):
        train(TrainConfig(corpus=[str(path)], out=str(tmp_path / "c"), steps=2, codec="grid", grid="1/4",
                          split="train", valid_split="test", **TINY))
    abc = tmp_path / "t.abc"
    abc.write_text("X:1\nT:a\nM:4/4\nL:1/8\nK:C\nCDEF GABc|cBAG FEDC|]\n")
    with pytest.raises(TunesmithError, match="--valid-split names a split of roll JSON files"):
        train(TrainConfig(corpus=[str(abc)], out=str(tmp_path / "d"), steps=2, valid_split="valid", **TINY))


def test_the_texture_guard_is_trained_into_grid_models_and_screens_copies(tmp_path):
    from tunesmith.compose import make_screen
    from tunesmith.evaluate.texture import TEXTURE_FILE, TextureGuard
    from tunesmith.notation import grid as g
    from tunesmith.sample import Sampled  # noqa: F401 - the screen reads only .text

    path = tmp_path / "r.json"
    long_piece = [[72 - (i * 5) % 13, 64 - (i * 3) % 7, 55 - i % 4] for i in range(40)]
    path.write_text(json.dumps({"train": [long_piece, long_piece[::-1]], "valid": [long_piece[:10]]}))
    run = tmp_path / "run"
    train(TrainConfig(corpus=[str(path)], out=str(run), steps=4, codec="grid", grid="1/4", onsets=False,
                      split="train", valid_split="valid", **TINY))
    assert (run / "best" / TEXTURE_FILE).exists()
    loaded = bundle.load(run)
    guard = TextureGuard.load(loaded.path)
    assert guard.length == 4 * 4 + 1            # more than four 4/4 bars of quarter steps
    source = g.read_roll(path, "train", "1")[0]
    moved = g.GridPiece("up", source.grid, [[e + 2 for e in s] for s in source.steps])
    assert guard.copies(source) and guard.copies(moved)                   # in any key
    assert not guard.copies(g.GridPiece("short", source.grid, source.steps[:16]))
    screen = make_screen(loaded, "auto")

    class Piece:
        text = " ".join(loaded.codec.words_of(moved))
    assert "bars of every voice" in screen(Piece())
    Piece.text = " ".join(loaded.codec.words_of(g.GridPiece("x", source.grid, source.steps[:12])))
    assert screen(Piece()) is None
    assert make_screen(loaded, "off") is None
    (loaded.path / TEXTURE_FILE).write_bytes(b"broken")
    with pytest.raises(TunesmithError, match="truncated or corrupt"):
        make_screen(loaded, "auto")
