"""The LSTM language model: embedding → N LSTM layers with dropout → linear head."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import lru_cache

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


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic (AVX-512 BF16 or AMX), where bf16 products are fast."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


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

    def stepper(self, precision: str = "fp32") -> "Stepper":
        """A one-token-at-a-time view of this model for sampling (inference only); precision
        fp32, bf16, or auto: bf16 on a CPU that multiplies bfloat16 natively, else fp32."""
        if precision == "auto":
            on_cpu = next(self.parameters()).device.type == "cpu"
            precision = "auto" if on_cpu and cpu_has_bf16() else "fp32"
        return Stepper(self, precision)

    def zero_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        shape = (self.config.layers, batch, self.config.hidden)
        return (torch.zeros(shape, device=device), torch.zeros(shape, device=device))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class Stepper:
    """One sampling step for a batch: token ids (batch,) and per-layer states → logits (batch, vocab).

    On a CPU, PyTorch's nn.LSTM spends most of a one-token call on setting
    itself up (about 0.6 ms for a 3×256 model against 0.15 ms of arithmetic),
    so here each layer is one fused matrix product of [input, hidden] with the
    stacked gate weights, from weights arranged once. On CUDA the cuDNN LSTM
    does the step. Same numbers as `LSTMModel.forward` up to rounding.

    `precision="bf16"` does the matrix products in bfloat16 (gates, cell
    states and the head stay float32): on CPUs with AVX-512 BF16 a 100-row
    step is about 2.4× faster and the next-token distribution moves by about
    1e-4 nats (KL). For a few rows the casts cost more than they save, so
    "auto" (on such a CPU) takes bf16 from BF16_ROWS rows up and fp32 below.
    """

    BF16_ROWS = 16

    def __init__(self, model: LSTMModel, precision: str = "fp32"):
        if precision not in ("fp32", "bf16", "auto"):
            raise TunesmithError(f"sampling precision must be fp32, bf16 or auto, not {precision!r}")
        self.model = model
        self.precision = precision
        self.fused = next(model.parameters()).device.type == "cpu"
        lstm = model.lstm
        with torch.no_grad():
            self.layers = [(torch.cat([getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}")], 1)
                            .t().contiguous(),
                            getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}"))
                           for k in range(lstm.num_layers)]
            self.layers_bf16 = [(w.to(torch.bfloat16), b.to(torch.bfloat16)) for w, b in self.layers] \
                if precision != "fp32" else None

    @torch.inference_mode()
    def __call__(self, ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        if not self.fused:
            logits, state = self.model(ids[:, None], state)
            return logits[:, -1, :], state
        h, c = state
        x = self.model.embed(ids)
        hs, cs = [], []
        low = self.precision == "bf16" or (self.precision == "auto" and len(ids) >= self.BF16_ROWS)
        layers, dtype = (self.layers_bf16, torch.bfloat16) if low else (self.layers, torch.float32)
        for k, (weight, bias) in enumerate(layers):
            gates = torch.addmm(bias, torch.cat([x, h[k]], 1).to(dtype), weight).float()
            i, f, g, o = gates.chunk(4, 1)
            ck = torch.sigmoid(f) * c[k] + torch.sigmoid(i) * torch.tanh(g)
            x = torch.sigmoid(o) * torch.tanh(ck)
            hs.append(x)
            cs.append(ck)
        return self.model.head(x), (torch.stack(hs), torch.stack(cs))
