"""The LSTM language model: embedding → N LSTM layers with dropout → linear head."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from tunesmith import TunesmithError


@dataclass
class ModelConfig:
    vocab_size: int
    layers: int = 3
    hidden: int = 256
    embed: int = 64
    dropout: float = 0.3

    def __post_init__(self):
        if self.vocab_size < 3:
            raise TunesmithError(f"vocabulary of {self.vocab_size} symbols is too small to model")
        if not 1 <= self.layers <= 16:
            raise TunesmithError(f"--layers must be between 1 and 16, not {self.layers}")
        if not 1 <= self.hidden <= 8192:
            raise TunesmithError(f"--hidden must be between 1 and 8192, not {self.hidden}")
        if not 1 <= self.embed <= 8192:
            raise TunesmithError(f"--embed must be between 1 and 8192, not {self.embed}")
        if not 0.0 <= self.dropout < 1.0:
            raise TunesmithError(f"--dropout must be in [0, 1), not {self.dropout}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TunesmithError(f"the model config has entries this version does not know: {', '.join(sorted(unknown))}")
        return cls(**data)


State = tuple[torch.Tensor, torch.Tensor]


class LSTMModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed)
        self.lstm = nn.LSTM(config.embed, config.hidden, num_layers=config.layers,
                            dropout=config.dropout if config.layers > 1 else 0.0, batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)
        self._init_forget_gates()

    def _init_forget_gates(self) -> None:
        """Forget-gate biases start at 1 (Jozefowicz et al. 2015): the cells remember
        from the first step, and deep stacks leave the unigram plateau sooner."""
        h = self.config.hidden
        with torch.no_grad():
            for name, param in self.lstm.named_parameters():
                if name.startswith("bias_ih"):
                    param[h:2 * h].fill_(1.0)
                elif name.startswith("bias_hh"):
                    param[h:2 * h].fill_(0.0)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """ids (batch, time) → logits (batch, time, vocab), new state."""
        x = self.embed(ids)
        out, state = self.lstm(x, state)
        return self.head(self.drop(out)), state

    def zero_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        shape = (self.config.layers, batch, self.config.hidden)
        return (torch.zeros(shape, device=device), torch.zeros(shape, device=device))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
