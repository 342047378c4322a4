"""The sampler's fast paths against the plain model: the fused one-token step (fp32 and bf16,
rows leaving the batch) and the inverse-CDF draw (only tokens with probability, in proportion)."""

import torch
import torch.nn.functional as F

from tunesmith.nets.lstm import LSTMModel, ModelConfig, Stepper
from tunesmith.sample import _pick


def model_and_sequence(rows=5, steps=40):
    torch.manual_seed(0)
    model = LSTMModel(ModelConfig(vocab_size=30, layers=3, hidden=48, embed=12, dropout=0.0)).eval()
    with torch.no_grad():   # larger weights than the initialisation, so the gates saturate somewhere too
        for p in model.parameters():
            p.mul_(3.0)
    return model, torch.randint(0, 30, (rows, steps))


def stepped(step, seq, start=0):
    return torch.stack([step(seq[:, t]) for t in range(start, seq.size(1))], 1)


def test_fp32_step_matches_the_model_and_rows_leave_cleanly():
    model, seq = model_and_sequence()
    with torch.no_grad():
        expected, _ = model(seq)
        got = stepped(Stepper(model, model.zero_state(5), "fp32"), seq)
        assert (got - expected).abs().max() < 1e-4
        # from a state part-way, with rows leaving in between and the logits scaled
        _, state = model(seq[:, :10])
        step = Stepper(model, state, "fp32", scale=0.5)
        first = stepped(step, seq[:, :20], start=10)
        step.keep(torch.tensor([True, False, True, False, True]))
        assert step.rows == 3
        rest = stepped(step, seq[[0, 2, 4]], start=20)
        assert (first - expected[:, 10:20] * 0.5).abs().max() < 1e-4
        assert (rest - expected[[0, 2, 4], 20:] * 0.5).abs().max() < 1e-4


def test_unfused_step_is_the_same():
    """The path CUDA takes (the model's own nn.LSTM per token), here on the CPU."""
    model, seq = model_and_sequence()
    with torch.no_grad():
        fused = Stepper(model, model.zero_state(5), "fp32", scale=2.0)
        plain = Stepper(model, model.zero_state(5), "fp32", scale=2.0, fused=False)
        a, b = stepped(fused, seq[:, :15]), stepped(plain, seq[:, :15])
        for step in (fused, plain):
            step.keep(torch.tensor([3, 1]))
        a2, b2 = stepped(fused, seq[[3, 1]], start=15), stepped(plain, seq[[3, 1]], start=15)
    assert plain.rows == fused.rows == 2
    assert (a - b).abs().max() < 2e-4 and (a2 - b2).abs().max() < 2e-4


def test_bf16_step_stays_close_in_distribution():
    model, seq = model_and_sequence(rows=16)
    with torch.no_grad():
        expected, _ = model(seq)
        got = stepped(Stepper(model, model.zero_state(16), "bf16"), seq)
    kl = F.kl_div(got.log_softmax(-1), expected.log_softmax(-1), log_target=True, reduction="none").sum(-1)
    assert kl.mean() < 1e-3 and kl.max() < 1e-2


def test_auto_precision_is_fp32_for_one_row():
    model, _ = model_and_sequence()
    assert model.stepper(model.zero_state(1), "auto").precision == "fp32"


def test_draws_only_tokens_with_probability_in_proportion():
    generator = torch.Generator().manual_seed(1)
    probs = torch.tensor([0.0, 0.5, 0.0, 0.2, 0.3, 0.0])
    logits = probs.log().expand(20000, -1).contiguous()
    drawn = _pick(logits, False, 0, 1.0, generator)
    counts = torch.bincount(drawn, minlength=6).float() / len(drawn)
    assert counts[[0, 2, 5]].sum() == 0
    assert (counts - probs).abs().max() < 0.015
    # a single allowed token, last in the vocabulary, and one first
    for allowed in (0, 5):
        only = torch.full((1000, 6), float("-inf"))
        only[:, allowed] = 0.0
        assert bool((_pick(only, False, 0, 1.0, generator) == allowed).all())
    # greedy, top-k 1 and a tiny top-p all take the most likely token
    assert bool((_pick(logits[:5], True, 0, 1.0, generator) == 1).all())
    assert bool((_pick(logits[:5], False, 1, 1.0, generator) == 1).all())
    assert bool((_pick(logits[:5], False, 0, 1e-6, generator) == 1).all())


def test_a_table_constraint_refuses_the_rows_its_permits_refuses():
    from tunesmith.codecs.constraint import Constraint
    from tunesmith.codecs.table_constraint import TableConstraint

    generator = torch.Generator().manual_seed(0)
    table = torch.randint(-1, 4, (4, 6), generator=generator)
    table[:, 0] = torch.tensor([1, 2, 3, 0])  # every state lets some token through
    rule = TableConstraint(table)
    rule.start(50, [0])
    for _ in range(3):                        # the rows spread over the states, each by tokens it may take
        rule.advance(torch.multinomial(rule.allowed().float(), 1, generator=generator).squeeze(1))
    assert len(set(rule.state.tolist())) > 1
    tokens = torch.randint(0, 6, (50,), generator=generator).tolist()
    refused = rule.refused(tokens)
    assert refused and refused == Constraint.refused(rule, tokens)
    assert refused == [i for i, ok in enumerate(rule.permits(torch.tensor(tokens)).tolist()) if not ok]


def test_drawing_first_and_masking_only_refused_rows_is_the_masked_distribution():
    from tunesmith.codecs.table_constraint import TableConstraint
    from tunesmith.sample import _constrained_pick

    # one state; tokens 1 and 3 forbidden. 40,000 rows draw at once, by the draw-first path
    table = torch.tensor([[0, -1, 0, -1, 0]])
    rule = TableConstraint(table)
    rows = 40_000
    rule.start(rows, [0])
    logits = torch.tensor([0.5, 2.0, -0.3, 1.5, 0.0]).expand(rows, -1).clone()
    generator = torch.Generator().manual_seed(3)
    drawn = _constrained_pick(logits, rule, False, 0, 1.0, generator)
    assert not bool(((drawn == 1) | (drawn == 3)).any())
    want = torch.softmax(logits[0].masked_fill(table[0] < 0, float("-inf")), -1)
    got = torch.bincount(drawn, minlength=5).float() / rows
    assert (got - want).abs().max() < 4 * (want * (1 - want) / rows).sqrt().max()
    # greedy: the allowed argmax, not the free one; top-k masks before it cuts
    rule.start(3, [0])
    assert _constrained_pick(logits[:3].clone(), rule, True, 0, 1.0, generator).tolist() == [0, 0, 0]
    rule.start(rows, [0])
    topk = _constrained_pick(logits.clone(), rule, False, 2, 1.0, generator)
    assert set(topk.unique().tolist()) == {0, 4}      # the two likeliest allowed


def test_refused_rows_draw_again_then_take_the_mask_and_keep_the_masked_distribution(monkeypatch):
    from tunesmith import sample
    from tunesmith.codecs.table_constraint import TableConstraint
    from tunesmith.sample import _constrained_pick

    class Counted(TableConstraint):
        masked_rows = 0

        def allowed_rows(self, rows):
            Counted.masked_rows += len(rows)
            return super().allowed_rows(rows)

    # most of the mass on 5 forbidden tokens of 8: a refused row tries its other tokens in the order
    # draws without replacement would give, up to CANDIDATES of them (2 here), and only a row refused
    # every time takes its full mask
    monkeypatch.setattr(sample, "CANDIDATES", 2)
    table = torch.tensor([[0, -1, -1, 0, -1, -1, 0, -1]])
    rule = Counted(table)
    rows = 40_000
    rule.start(rows, [0])
    logits = torch.tensor([0.0, 3.0, 2.5, -0.5, 2.0, 1.5, 0.5, 3.0]).expand(rows, -1).clone()
    generator = torch.Generator().manual_seed(5)
    drawn = _constrained_pick(logits.clone(), rule, False, 0, 1.0, generator)
    want = torch.softmax(logits[0].masked_fill(table[0] < 0, float("-inf")), -1)
    got = torch.bincount(drawn, minlength=8).float() / rows
    assert (got - want).abs().max() < 4 * (want * (1 - want) / rows).sqrt().max()
    # both ways were taken: some rows found an allowed token by drawing again, the rest took the mask
    assert 0 < Counted.masked_rows < rows
    rule.start(2, [0])
    assert _constrained_pick(logits[:2].clone(), rule, True, 0, 1.0, generator).tolist() == [6, 6]
    # with every token a candidate no row needs its mask, and the distribution is the same
    monkeypatch.setattr(sample, "CANDIDATES", 8)
    Counted.masked_rows = 0
    rule.start(rows, [0])
    drawn = _constrained_pick(logits.clone(), rule, False, 0, 1.0, generator)
    got = torch.bincount(drawn, minlength=8).float() / rows
    assert Counted.masked_rows == 0
    assert (got - want).abs().max() < 4 * (want * (1 - want) / rows).sqrt().max()


def test_last_end_is_where_a_capped_piece_could_end():
    from tunesmith.codecs.table_constraint import TableConstraint

    # states 0 → 1 → 2 → 1 ...; token 3 (the end) is allowed only in state 2
    table = torch.tensor([[1, -1, -1, -1], [-1, 2, -1, -1], [-1, -1, 1, 2]])
    rule = TableConstraint(table)
    assert rule.last_end([9, 0, 1, 2], end_id=3) == 3          # after 0 1 (state 2), not after 0 1 2
    assert rule.last_end([9, 0, 1, 2, 1, 2], end_id=3) == 5    # after 0 1 2 1
    assert rule.last_end([9, 0], end_id=3) is None


def test_a_row_stuck_at_a_dead_end_goes_back_to_where_it_could_end(monkeypatch):
    """A dead end deeper than the grammar's one-step look-ahead leaves a row nothing but the mask's way
    out, the end; the sampler then keeps the piece up to where its grammar last let it end."""
    import sys

    from tunesmith.codecs.constraint import GrammarConstraint
    from tunesmith.sample import generate

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_abc_constraint import TUNES, codec_of

    codec = codec_of(TUNES)

    class TwoDeep(GrammarConstraint):
        # "A", then any number of "A" (it may end there), then "B" "B" and no way on: "AB" is a dead end
        def initial(self):
            return "start"

        def step(self, state, symbol):
            return {("start", "A"): "A", ("A", "A"): "A", ("A", "B"): "B", ("B", "B"): "BB"}.get((state, symbol))

        def can_end(self, state):
            return state == "A"

    monkeypatch.setattr(type(codec), "constraint", lambda self, controls=None: TwoDeep(self.symbols, self.EOS))
    torch.manual_seed(0)
    model = LSTMModel(ModelConfig(vocab_size=codec.vocab_size, layers=1, hidden=8, embed=4, dropout=0.0))
    with torch.no_grad():    # it wants "B" above all, and never to end
        model.head.bias.zero_()
        model.head.bias[codec.symbols.index("B")] = 30.0
        model.head.bias[codec.EOS] = -30.0
    pieces = generate(model, codec, n=3, seed=1, max_length=50)
    # each row wrote "A", "B", then found only the end (its "B" leads to a state with no way on)
    assert [p.text for p in pieces] == ["A"] * 3 and all(p.ended for p in pieces)


def test_the_collector_is_paused_while_sampling_and_restored_after():
    """generate pauses the cyclic collector (see sample.gc_paused) and leaves it as it found it: on after
    a batch, on after a batch that failed, off where the caller had it off, and on only when the last of
    several overlapping samplers ends."""
    import gc
    import threading

    from tunesmith.sample import gc_paused

    assert gc.isenabled()
    seen = []
    with gc_paused():
        seen.append(gc.isenabled())
    assert seen == [False] and gc.isenabled()

    try:
        with gc_paused():
            raise ValueError("a failed batch")
    except ValueError:
        pass
    assert gc.isenabled()

    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()      # the caller's choice stands
    finally:
        gc.enable()

    first_in, first_may_end = threading.Event(), threading.Event()
    during = []

    def first():
        with gc_paused():
            first_in.set()
            first_may_end.wait(5)
            during.append(gc.isenabled())

    worker = threading.Thread(target=first)
    worker.start()
    first_in.wait(5)
    with gc_paused():       # a second sampler begins and ends while the first runs
        pass
    assert not gc.isenabled()      # the first is still sampling
    first_may_end.set()
    worker.join(5)
    assert during == [False] and gc.isenabled()


def test_generate_samples_with_the_collector_paused(monkeypatch):
    import gc
    import sys

    from tunesmith.sample import generate

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_abc_constraint import TUNES, codec_of

    codec = codec_of(TUNES)
    model = LSTMModel(ModelConfig(vocab_size=codec.vocab_size, layers=1, hidden=8, embed=4, dropout=0.0))
    seen = []
    real = type(model).stepper
    monkeypatch.setattr(type(model), "stepper", lambda self, *a, **k: (seen.append(gc.isenabled()), real(self, *a, **k))[1])
    generate(model, codec, n=2, seed=1, max_length=20)
    assert seen == [False] and gc.isenabled()
