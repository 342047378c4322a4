"""Sampling: n pieces generated together in one batch, each stopping at its end-of-piece.

Every piece starts where training pieces start: a zero state and the
start-of-piece token, then the primer (brought into training shape by the
codec). Temperature, top-k and top-p shape each step's distribution; a seeded
generator makes a run repeatable. Where the codec has a decoding constraint,
each step's tokens are limited to those it allows, row by row.
"""

from __future__ import annotations

import gc
import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from tunesmith import TunesmithError, atomic, check, log, settings
from tunesmith.codecs import Codec
from tunesmith.nets import LanguageModel, expand_rows
from tunesmith.options import SampleOptions


def new_seed() -> int:
    """A fresh random seed, drawn without touching torch's global random state."""
    return random.SystemRandom().randrange(2**31)


@dataclass
class Sampled:
    ids: list[int]     # the piece's ids after BOS (style and primer included), without EOS
    text: str          # decoded, training shape
    ended: bool        # the model ended it (False: it hit the length cap)
    style: str | None = None   # the style it was asked for, or took itself
    primed: int = 0    # how many of `ids` are the primer's (the rest the model wrote)


def check_primer_length(tokens: int, max_length: int) -> None:
    """A piece holds its primer and at least one token more."""
    if tokens >= max_length:
        raise TunesmithError(f"the primer is {tokens} tokens long: --max-length must be more than that, "
                             f"not {max_length}")


NOT_FINITE = ("the model gave NaN or infinite scores while sampling: its weights are damaged or the training run "
              "that made it diverged")


def _pick(logits: torch.Tensor, greedy: bool, top_k: int, top_p: float,
          generator: torch.Generator) -> torch.Tensor:
    """One token per row from (batch, vocab) logits, already divided by the temperature."""
    if greedy:
        return logits.argmax(-1)
    if 0 < top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the tokens before it already hold top_p of the mass
        drop = (probs.cumsum(-1) - probs) >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    # Inverse CDF, one uniform number per row (torch.multinomial draws an exponential number
    # per vocabulary entry: ten times slower for 100 rows). The number is scaled to just under
    # the total, so a draw never lands past the last token that has probability, and a token
    # is only found where the running sum rises, i.e. where its probability is not zero.
    cdf = torch.softmax(logits, dim=-1).cumsum_(-1)
    u = torch.rand((cdf.size(0), 1), generator=generator, device=cdf.device).mul_(cdf[:, -1:] * (1 - 2 ** -20))
    return torch.searchsorted(cdf, u, right=True).squeeze_(-1)


def _constrained_pick(logits: torch.Tensor, rule, greedy: bool, top_k: int, top_p: float,
                      generator: torch.Generator) -> torch.Tensor:
    """`_pick` from the logits with the constraint's forbidden tokens masked out.

    Without top-k/top-p the draw comes first and only the rows whose token the constraint forbids
    draw again. This is the masked distribution exactly: an allowed token t comes out with
    p(t) + (1 - p(A)) p(t)/p(A) = p(t)/p(A), A being the allowed set (and greedy's argmax, when
    allowed, is the allowed argmax). A model that mostly writes what the grammar allows then costs
    one look-up per row instead of a mask per new grammar state. top-k and top-p cut the
    distribution after masking, so they mask first.

    A row whose draw is forbidden orders its other tokens as draws without replacement would come
    (its scores plus Gumbel noise, sorted; greedy: the scores sorted) and takes the first of the
    first `CANDIDATES` that the constraint allows: each of them is a draw from p restricted to the
    tokens not yet refused, a superset of A, so the first allowed one still comes with p(t)/p(A).
    Only a row with none allowed among them needs its full mask, which costs a grammar step per
    symbol of the vocabulary where the state is new."""
    if rule is None:
        return _pick(logits, greedy, top_k, top_p, generator)
    if top_k or top_p < 1.0:
        return _pick(logits.masked_fill(~rule.allowed(), float("-inf")), greedy, top_k, top_p, generator)
    token = _pick(logits, greedy, top_k, top_p, generator)
    # (the few refused rows are worked on as Python lists: a tensor operation costs more than a
    # row's look-up, and this runs at every step)
    drawn = token.tolist()
    refused = rule.refused(drawn)
    if not refused:
        return token
    device = token.device
    bad = torch.tensor(refused, device=device)
    never = torch.tensor([[drawn[row]] for row in refused], device=device)
    scores = logits[bad].scatter_(1, never, float("-inf"))
    if not greedy:   # Gumbel noise: sorting then orders the tokens as draws without replacement
        u = torch.rand(scores.shape, generator=generator, device=scores.device).clamp_(2 ** -40, 1 - 2 ** -20)
        scores = scores - u.log_().neg_().log_()
    keys, order = scores.topk(min(CANDIDATES, scores.size(1)), dim=1)
    # no probability: not a candidate
    candidates = [[t if k != float("-inf") else -1 for t, k in zip(ts, ks)]
                  for ts, ks in zip(order.tolist(), keys.tolist())]
    left = []
    for row, picked in zip(refused, rule.first_permitted(bad, candidates)):
        drawn[row] = max(picked, 0)
        if picked < 0:
            left.append(row)
    token = torch.tensor(drawn, dtype=token.dtype, device=device)
    if left:
        # from the scores before the candidates: the mask refuses those tokens too, except where no
        # token leads on and it falls back to the end (which `permits` refuses, so none was taken)
        left = torch.tensor(left, device=device)
        masked = logits[left].masked_fill(~rule.allowed_rows(left).to(logits.device), float("-inf"))
        token[left] = _pick(masked, greedy, top_k, top_p, generator)
    return token


CANDIDATES = 32
"""Tokens a row whose draw is forbidden tries in order before its full mask is worked out (see
`_constrained_pick`): each costs a grammar step where the state is new, a full mask one per symbol."""


def _rule(codec: Codec, controls: dict | None, constrain: bool, prime: list[int], n: int):
    """The codec's constraint with the controls, started on the primer (None: sample without one)."""
    if controls and not constrain:
        raise TunesmithError(f"--{next(iter(controls))} is forced by the model's grammar: it cannot be asked "
                             f"with --no-constraint")
    rule = None if not constrain else codec.constraint(controls) if controls else codec.constraint()
    if rule is not None:
        rule.start(n, prime)
    return rule


_PAUSES = threading.Lock()
_paused = [0, False]   # samplers running, and whether the collector was on when the first began


@contextmanager
def gc_paused():
    """Python's cyclic garbage collector off while pieces are sampled (on again when the last sampler
    running ends, if it was on). A grammar keeps tens of thousands of new states (tuples) per batch, none in
    a reference cycle; the collector, counting them as they come, went over all of them again and again
    (the grammar's work for three cold batches of 100 folk tunes: 0.59 s with it off, 0.62 to 0.72 s with
    it on, as its full passes fell)."""
    with _PAUSES:
        if _paused[0] == 0:
            _paused[1] = gc.isenabled()
            gc.disable()
        _paused[0] += 1
    try:
        yield
    finally:
        with _PAUSES:
            _paused[0] -= 1
            if _paused[0] == 0 and _paused[1]:
                gc.enable()


@torch.inference_mode()
@gc_paused()
def generate(model: LanguageModel, codec: Codec, n: int = 1, temperature: float = 1.0, top_k: int = 0,
             top_p: float = 1.0, primer: str = "", max_length: int = 3000, seed: int | None = None,
             device: torch.device | str = "cpu", style: str | None = None,
             precision: str = "auto", controls: dict[str, str] | None = None,
             constrain: bool = True) -> list[Sampled]:
    """Generate n pieces in one batch. max_length counts the piece's tokens (characters for text
    models), primer included. A model with styles takes `style`, or picks one itself. `controls`
    (e.g. {"meter": "6/8"}) are forced by the codec's constraint; `constrain=False` samples without it.

    Rows that end leave the batch, so a step costs what the pieces still being
    written cost. `precision`: the step's matrix products in fp32, bf16, or
    auto (bf16 on CPUs with bfloat16 arithmetic; see `model.Stepper`)."""
    settings.check(SampleOptions(n=n, temperature=temperature, top_k=top_k, top_p=top_p, max_length=max_length))
    prime = torch.as_tensor(codec.encode_primer(primer, style), dtype=torch.long, device=device)
    check_primer_length(len(prime) - 1, max_length)
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else new_seed())
    # The primer is the same for every piece: run it once and share the state.
    logits, state = model(prime[None, :])
    state = expand_rows(state, n)
    greedy = temperature == 0
    scale = 1.0 if greedy else 1.0 / temperature
    logits = logits[:, -1, :] * scale
    if not bool(torch.isfinite(logits).all()):   # later steps: a NaN draw lands past the vocabulary
        raise TunesmithError(NOT_FINITE)
    logits = logits.expand(n, -1)
    step = model.stepper(state, precision, scale)   # its logits come divided by the temperature
    budget = max_length - (len(prime) - 1)
    # what may never be sampled: the start token and <unk> inside a piece; a style token after the first step
    never = torch.zeros(codec.vocab_size, device=device)
    never[codec.never_ids] = float("-inf")
    later = never.clone()
    later[codec.start_only_ids] = float("-inf")
    first = later if len(prime) > 1 else never
    lengths = torch.full((n,), budget, dtype=torch.long, device=device)
    stuck = torch.zeros(n, dtype=torch.bool, device=device)   # rows that ended at a dead end of the grammar
    active = torch.arange(n, device=device)   # rows still being written; finished ones leave the batch
    tokens, rows_of = [], []   # per step: the tokens and the rows they belong to, put in place at the end
    rule = _rule(codec, controls, constrain, prime.tolist(), n)
    vocab = codec.vocab_size
    wind = int(budget * rule.WIND_DOWN) if rule is not None and rule.WIND_DOWN else budget
    for t in range(budget):
        if t == wind:     # from here the grammar steers each row towards an end (Constraint.wind_down)
            rule.wind_down()
        logits = (logits + first) if t == 0 else logits.add_(later)
        token = _constrained_pick(logits, rule, greedy, top_k, top_p, generator)
        if t >= wind:     # late in the budget a row that may end ends (Constraint.WIND_DOWN)
            token = torch.where(rule.permits(torch.full_like(token, codec.EOS)).to(token.device), codec.EOS, token)
        ended = token == codec.EOS
        # one look at the batch per step: did a row end, did a row draw from NaN scores (past the vocabulary)
        any_ended, broken = torch.stack((ended.any(), token.ge(vocab).any())).tolist()
        if broken:
            raise TunesmithError(NOT_FINITE)
        tokens.append(token)
        rows_of.append(active)
        if any_ended:
            lengths[active[ended]] = t
            if rule is not None:    # an end the grammar did not allow: the mask's way out of a dead end
                done = ended.nonzero().squeeze(1)
                stuck[active[done]] = ~rule.permits_rows(done, token[done]).to(device)
        if rule is not None:
            rule.advance(token)
        if any_ended:
            going = ~ended
            if not bool(going.any()):
                break
            active, token = active[going], token[going]
            step.keep(going)
            if rule is not None:
                rule.keep(going)
        logits = step(token)
    model.train(was_training)
    out = torch.full((n, budget), codec.EOS, dtype=torch.long, device=device)
    steps = torch.repeat_interleave(torch.arange(len(tokens), device=device),
                                    torch.tensor([len(r) for r in rows_of], device=device))
    out[torch.cat(rows_of), steps] = torch.cat(tokens)
    return _pieces(codec, rule, prime.tolist(), out.cpu().tolist(), lengths.tolist(), stuck.tolist(), budget)


def _pieces(codec: Codec, rule, prime: list[int], rows: list[list[int]], lengths: list[int], stuck: list[bool],
            budget: int) -> list[Sampled]:
    """Each row's piece: its tokens up to its end. A row cut at the cap, or stuck at a dead end of its
    grammar (a deeper one than the one-step look-ahead sees: rare, the grammar's bug), goes back to
    where the grammar last let it end."""
    primer_ids = prime[1:]
    results = []
    for row, length, dead in zip(rows, lengths, stuck):
        capped = length == budget
        keep = _last_end(rule, codec, prime, row[:length]) if (capped or dead) and rule is not None else length
        ids = primer_ids + row[:keep]
        results.append(Sampled(ids, codec.decode(ids), not capped, codec.style_of(ids), len(primer_ids)))
    return results


def _last_end(rule, codec: Codec, prefix: list[int], tokens: list[int]) -> int:
    """How many of a row's tokens to keep when the length cap cut it (or a dead end of its grammar
    stopped it): up to where its grammar last let it end (a tune at its last complete bar, not in the
    middle of one), or all where it never could. A capped piece stays marked as capped."""
    at = rule.last_end(prefix + tokens, codec.EOS, len(prefix))
    return len(tokens) if at is None else at - len(prefix)


Finish = Callable[[Sampled, int], str]    # a sampled piece and its number → the text of its file


def finisher(codec: Codec, key: str | None = None) -> Finish:
    """The codec's own: a complete file in training shape (in `key`, where the codec can move it)."""
    return lambda piece, number: codec.finish(piece.text, number, key)


def generate_valid(model: LanguageModel, codec: Codec, n: int, judge: Callable[[list[str]], list[str | None]] | None,
                   rounds: int = 5, seed: int | None = None, key: str | None = None,
                   finish: Finish | None = None, screen: Callable[[Sampled], str | None] | None = None,
                   **options) -> tuple[list[Sampled], list[tuple[Sampled, str]], int, int]:
    """Generate until n pieces pass `judge` or `rounds` batches are spent.

    `judge` gets the finished file texts and says, for each, None (keep it) or
    why it is rejected. The first round samples just the pieces asked for (a
    batch takes as long as its longest piece, and a good model's first pieces
    mostly pass); each later round samples, in one batch, twice as many pieces
    as are still missing (at least 8: a batch costs little more than one
    piece), and judges them in order, as many at a time as are still missing,
    until enough passed. Returns (kept pieces, at most n; rejected pieces with the reason;
    pieces sampled in all; rounds used). `finish`: how a piece becomes its file (default the codec's).
    `screen`: a test on the sampled piece itself (None: go on to `judge`), for what needs no file;
    without a `judge` a piece the screen passes is kept as it is (no file is made to judge).
    """
    settings.check(SampleOptions(n=n, tries=rounds))
    finish = finish or finisher(codec, key)
    seed = seed if seed is not None else new_seed()
    kept: list[Sampled] = []
    rejected: list[tuple[Sampled, str]] = []
    sampled = 0
    for round_ in range(1, rounds + 1):
        rows = n if round_ == 1 else max(2 * (n - len(kept)), 8)
        batch = generate(model, codec, n=rows, seed=seed + round_ - 1, **options)
        sampled += len(batch)
        if screen is not None:
            screened = [(p, screen(p)) for p in batch]
            rejected += [(p, why) for p, why in screened if why is not None]
            batch = [p for p, why in screened if why is None]
        start = 0
        while start < len(batch) and len(kept) < n:
            # judged in order, as many at a time as are still missing: a piece that is not needed is
            # never finished or checked (a score's file and its check cost more than its sampling)
            chunk = batch[start:start + n - len(kept)]
            verdicts = ([None] * len(chunk) if judge is None
                        else judge([finish(p, start + i + 1) for i, p in enumerate(chunk)]))
            kept += [p for p, why in zip(chunk, verdicts) if why is None]
            rejected += [(p, why) for p, why in zip(chunk, verdicts) if why is not None]
            start += len(chunk)
        if len(kept) >= n:
            return kept[:n], rejected, sampled, round_
    return kept, rejected, sampled, rounds


def write(pieces: list[Sampled], codec: Codec, out_dir: str | Path, stem: str = "piece",
          key: str | None = None, finish: Finish | None = None) -> list[Path]:
    """Write each piece as a complete file (in `key`, where the codec can move it; `finish`: how a
    piece becomes its file, default the codec's); numbering continues after files already there."""
    finish = finish or finisher(codec, key)
    out_dir = Path(out_dir)
    atomic.ensure_folder(out_dir)
    taken = [int(p.stem.rsplit("-", 1)[1]) for p in out_dir.glob(f"{stem}-*{codec.extension}")
             if p.stem.rsplit("-", 1)[1].isdigit()]
    first = max(taken, default=0) + 1
    paths = []
    for k, piece in enumerate(pieces):
        number = first + k
        path = out_dir / f"{stem}-{number:03d}{codec.extension}"
        text = finish(piece, number)
        atomic.write_text(path, text if piece.ended else check.mark_capped(text, codec.extension))
        paths.append(path)
    capped = sum(not p.ended for p in pieces)
    if capped:
        log.warn(f"{capped} of {len(pieces)} pieces reached --max-length before the model ended them")
    return paths
