"""The model's CPU training path: one LSTM layer at a time with cheap dropout masks."""

import pytest
import torch

from tunesmith.nets import lstm as model_module
from tunesmith.nets.lstm import LSTMModel, ModelConfig, dropout_mask, keep_threshold


def ones_mask(shape, p, device="cpu"):
    return torch.ones(shape)


def test_by_layer_training_is_the_same_network_with_masks_of_ones(monkeypatch):
    torch.manual_seed(3)
    config = ModelConfig(vocab_size=20, layers=3, hidden=24, embed=8, dropout=0.3)
    model = LSTMModel(config).train()
    reference = LSTMModel(ModelConfig(**{**config.to_json(), "dropout": 0.0})).train()   # nn.LSTM's own path
    reference.load_state_dict(model.state_dict())
    ids = torch.randint(0, 20, (5, 11))
    state = (torch.randn(3, 5, 24) * 0.5, torch.randn(3, 5, 24) * 0.5)
    calls = []
    monkeypatch.setattr(model_module, "dropout_mask", lambda shape, p, device="cpu": calls.append((tuple(shape), p)) or ones_mask(shape, p))
    logits, (h, c) = model(ids, state)
    expected, (h_ref, c_ref) = reference(ids, state)
    assert calls == [((5, 11, 24), 0.3)] * 3          # after layers 1 and 2, and on the output
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(h, h_ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(c, c_ref, rtol=0, atol=1e-6)
    (logits.square().mean() + h.sum() + c.sum()).backward()
    (expected.square().mean() + h_ref.sum() + c_ref.sum()).backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)
    # the state dict is the model's own: no parameters of the per-layer stand-ins
    assert list(model.state_dict()) == list(reference.state_dict())


def test_masks_only_when_training_with_dropout(monkeypatch):
    calls = []
    monkeypatch.setattr(model_module, "dropout_mask", lambda shape, p, device="cpu": calls.append(p) or ones_mask(shape, p))
    ids = torch.randint(0, 20, (2, 7))
    model = LSTMModel(ModelConfig(vocab_size=20, layers=2, hidden=16, embed=8, dropout=0.2))
    model.eval()
    first, _ = model(ids)
    second, _ = model(ids)
    assert calls == [] and torch.equal(first, second)
    LSTMModel(ModelConfig(vocab_size=20, layers=2, hidden=16, embed=8, dropout=0.0)).train()(ids)
    assert calls == []
    model.train()(ids)
    assert calls == [0.2, 0.2]
    calls.clear()
    LSTMModel(ModelConfig(vocab_size=20, layers=1, hidden=16, embed=8, dropout=0.2)).train()(ids)
    assert calls == [0.2]                             # one layer: only the output's dropout


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_dropout_mask_keeps_one_minus_p_and_averages_one(p):
    torch.manual_seed(0)
    shape = torch.Size([999, 1001])                   # not a multiple of four elements
    mask = dropout_mask(shape, p)
    assert mask.shape == shape and mask.dtype == torch.float32
    keep = keep_threshold(p) / 65536
    assert abs(keep - (1 - p)) <= 2 ** -17
    kept = mask > 0
    assert torch.all(mask[kept] == 1 / keep) and torch.all(mask[~kept] == 0)
    n = shape.numel()
    sigma = (keep * (1 - keep) / n) ** 0.5
    assert abs(kept.float().mean().item() - keep) < 5 * sigma
    assert abs(mask.double().mean().item() - 1) < 5 * sigma / keep
    # neighbours share a 64-bit draw, yet are independent: pairs kept together as often as keep²
    flat = kept.flatten()
    for gap in (1, 2, 3, 4):
        both = (flat[:-gap] & flat[gap:]).float().mean().item()
        assert abs(both - keep * keep) < 5 * (keep * keep * (1 - keep * keep) / (n - gap)) ** 0.5, gap


def test_dropout_mask_follows_the_seed():
    torch.manual_seed(5)
    a = dropout_mask(torch.Size([4, 33]), 0.3)
    b = dropout_mask(torch.Size([4, 33]), 0.3)
    torch.manual_seed(5)
    assert torch.equal(dropout_mask(torch.Size([4, 33]), 0.3), a)
    assert not torch.equal(a, b)


def test_rates_without_a_mask_fall_back():
    assert keep_threshold(0.0) is None and keep_threshold(1e-6) is None     # nothing to drop
    assert keep_threshold(0.999999) is None                                  # nothing would be kept
    assert keep_threshold(0.3) == round(0.7 * 65536)
    with pytest.raises(ValueError, match="no dropout mask"):
        dropout_mask(torch.Size([3]), 0.0)
