"""The grid-aware LSTM (model type `frames`): an LSTM over a grid codec's tokens that also sees the
time grid itself.

A grid model writes a step's sounding pitches one token at a time, then the step
token. A plain LSTM has to keep the step before in its state to know which
notes are held, and the pitches of the current step to know which are taken.
Here every position is given both outright, as two 128-key multi-hot vectors
(MIDI pitch):

- `before`: the pitches of the last finished step;
- `now`: the pitches written so far in the current step.

A linear map of them is added to the token's embedding at the LSTM's input, and
another to the logits, so "hold this note", "move by a step" and
"not this pitch again" are each one weight away. Both are computed from the
tokens alone (which token is which pitch, and the step token, are stored in the
model as `token_role`, filled from the codec by `adapt`), so the likelihood is
still exactly that of the token sequence: a frame's figure in nats is unchanged
in meaning. The two vectors travel in the model state with the LSTM's (h, c),
so chunks and sampling carry them like any other state.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tunesmith import TunesmithError
from tunesmith.nets.base import ModelConfig, State, Stepper, register_model
from tunesmith.nets.lstm import LSTMModel

KEYS = 128          # MIDI pitches
OTHER, STEP = -1.0, -2.0    # token_role of a token that is no pitch, and of the step token


@register_model("frames")
class FramesModel(LSTMModel):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.grid_in = nn.Linear(2 * KEYS, config.embed, bias=False)
        self.frame_head = nn.Linear(2 * KEYS, config.vocab_size, bias=False)
        nn.init.zeros_(self.frame_head.weight)
        # per token id: its MIDI pitch (0–127), STEP, or OTHER; saved with the weights
        self.register_buffer("token_role", torch.full((config.vocab_size,), OTHER))

    def adapt(self, codec) -> None:
        """Learn which token is which pitch and which is the step token from the codec."""
        roles = codec.grid_roles()
        if roles is None or STEP not in roles:
            raise TunesmithError("--architecture frames reads each token as a sounding pitch: it needs the grid "
                                 "codec with --layout pitch or voices")
        if len(roles) != self.config.vocab_size:
            raise TunesmithError(f"the codec has {len(roles)} symbols, the model {self.config.vocab_size}")
        role = torch.tensor([r if r < KEYS else OTHER for r in roles], dtype=self.token_role.dtype)
        with torch.no_grad():
            self.token_role.copy_(role.to(self.token_role.device))

    def features(self, ids: torch.Tensor, before: torch.Tensor, now: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For each position of ids (batch, time), after reading that token: the last finished
        step's pitches and the current step's so far, (batch, time, 128) each, from the ones carried
        in (`before`, `now`: (batch, 128)); and the pair to carry on.

        A position's step is the run of tokens after the last step token at or before it; `now` is
        what that run has written (a cumulative sum less its value at the run's start), `before` the
        whole previous run. Without a step token yet, the carried vectors stand in."""
        role = self.token_role[ids]                                        # (B, T)
        is_step = role == STEP
        onehot = F.one_hot(role.clamp(min=0).long(), KEYS).to(before.dtype) * (role >= 0).unsqueeze(-1)
        total = onehot.cumsum(1)                                           # (B, T, K): pitches up to t
        positions = torch.arange(ids.size(1), device=ids.device).expand_as(ids)
        last = torch.where(is_step, positions, -1).cummax(1).values        # last step token at or before t
        # the last step token before `last`: where the previous run began
        shifted = torch.cat([torch.full_like(last[:, :1], -1), last[:, :-1]], 1)
        first = shifted.gather(1, last.clamp(min=0))
        first = torch.where(last >= 0, first, -1)

        def upto(index: torch.Tensor) -> torch.Tensor:                     # total at index, 0 at -1
            got = total.gather(1, index.clamp(min=0).unsqueeze(-1).expand(-1, -1, KEYS))
            return got * (index >= 0).unsqueeze(-1)

        carried_now = now.unsqueeze(1)
        at_last = upto(last)
        now_t = total - at_last + carried_now * (last < 0).unsqueeze(-1)
        closed = at_last - upto(first) + carried_now * (first < 0).unsqueeze(-1)
        before_t = torch.where((last < 0).unsqueeze(-1), before.unsqueeze(1), closed)
        now_t = now_t.clamp(max=1)           # voices in unison: a pitch sounds or not
        before_t = before_t.clamp(max=1)
        return before_t, now_t, (before_t[:, -1], now_t[:, -1])

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        batch = ids.size(0)
        if state is None:
            state = self.zero_state(batch, ids.device)
        h, c, before, now = state
        before_t, now_t, (before_end, now_end) = self.features(ids, before[0], now[0])
        grid = torch.cat([before_t, now_t], -1)
        out, (h, c) = self.recur(self.embed(ids) + self.grid_in(grid), (h, c))
        return self.head(out) + self.frame_head(grid), (h, c, before_end.unsqueeze(0), now_end.unsqueeze(0))

    def zero_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        h, c = super().zero_state(batch, device)
        keys = torch.zeros(1, batch, KEYS, device=device)
        return h, c, keys, keys.clone()

    def stepper(self, state: State, precision: str = "fp32", scale: float = 1.0) -> Stepper:
        """Sampling calls the model one token at a time (the LSTM's fused CPU step reads an
        embedding table this model's input does not have)."""
        return Stepper(self, state, scale)

    def describe(self) -> str:
        c = self.config
        return f"{c.layers}x{c.hidden} LSTM over the grid (frames)"
