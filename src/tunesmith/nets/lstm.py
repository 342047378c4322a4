"""The LSTM language model: embedding → N LSTM layers with dropout → linear head (model type `lstm`)."""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from tunesmith import TunesmithError
from tunesmith.nets.base import LanguageModel, ModelConfig, register_model


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


def keep_threshold(p: float) -> int | None:
    """Dropout rate p as a threshold on 16-bit random integers: an element is kept when its
    number in [0, 65536) falls below it. None where there is nothing to drop (p rounds to 0)
    or nothing would be kept (p rounds to 1); `dropout_mask` is for the rates in between."""
    threshold = round((1.0 - p) * 65536)
    return threshold if 0 < threshold < 65536 else None


def dropout_mask(shape: torch.Size, p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """A float32 dropout mask: each element 0, or 1/keep with probability keep, where keep is
    1 − p to within 2⁻¹⁷ (exactly threshold/65536), so the mask's expected value is 1.

    Four elements share one 64-bit draw from PyTorch's generator (seeded, saved and restored
    with a run like any other random number); each takes 16 of its bits. On a CPU that costs
    about 1.7 ms for a 16×128×256 mask where `bernoulli_` takes about 9 ms
    (benchmarks/cpu_dropout.py)."""
    threshold = keep_threshold(p)
    if threshold is None:
        raise ValueError(f"no dropout mask for a rate of {p}")
    count = torch.Size(shape).numel()
    draws = torch.empty((count + 3) // 4, dtype=torch.int64, device=device).random_(-2 ** 63, None)
    lanes = draws.view(torch.int16)[:count].view(shape)   # uniform in [-32768, 32768)
    return (lanes < threshold - 32768).to(torch.float32).mul_(65536 / threshold)


@register_model("lstm")
class LSTMModel(LanguageModel):
    def __init__(self, config: ModelConfig):
        super().__init__(config)
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
        out, state = self.recur(self.embed(ids), state)
        return self.head(out), state

    def recur(self, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """Inputs (batch, time, lstm input) → the last layer's outputs after dropout, new (h, c)."""
        if self.training and x.device.type == "cpu" and keep_threshold(self.config.dropout) is not None:
            return self._forward_by_layer(x, state)
        out, state = self.lstm(x, state)
        return self.drop(out), state

    def _forward_by_layer(self, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """Training on a CPU: the same network, one LSTM layer at a time with its own dropout masks.

        PyTorch draws a CPU dropout mask one Bernoulli sample at a time on one thread (about 9%
        of a training step of the default model); `dropout_mask` takes about a fifth of that. Each
        layer is the model's own weights in a one-layer nn.LSTM call (`functional_call`), so the
        parameters, their gradients and the saved files are those of `self.lstm`, and with the
        masks set to ones the outputs are the same numbers as `self.lstm`'s."""
        layers, p = self.config.layers, self.config.dropout
        shells = self.__dict__.get("_shells")
        if shells is None:   # weightless stand-ins (meta tensors): functional_call supplies the weights
            shells = [nn.LSTM(self.lstm.input_size if k == 0 else self.config.hidden, self.config.hidden,
                              batch_first=True, device="meta") for k in range(layers)]
            self.__dict__["_shells"] = shells   # a plain attribute, not submodules: no extra parameters
        hs, cs = [], []
        for k, shell in enumerate(shells):
            weights = {f"{name}_l0": getattr(self.lstm, f"{name}_l{k}")
                       for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            x, (h, c) = functional_call(shell, weights, (x, None if state is None else (state[0][k:k + 1], state[1][k:k + 1])))
            hs.append(h)
            cs.append(c)
            x = x * dropout_mask(x.shape, p, x.device)   # between layers, and on the output as self.drop
        return x, (torch.cat(hs), torch.cat(cs))

    def stepper(self, state: State, precision: str = "fp32", scale: float = 1.0) -> "Stepper":
        """A one-token-at-a-time view of this model for sampling (inference only), its rows
        starting from `state`, its logits multiplied by `scale`; precision fp32, bf16, or auto:
        bf16 on a CPU that multiplies bfloat16 natively when there are at least
        Stepper.BF16_ROWS rows, else fp32."""
        if precision == "auto":
            on_cpu = next(self.parameters()).device.type == "cpu"
            fast = on_cpu and cpu_has_bf16() and state[0].size(1) >= Stepper.BF16_ROWS
            precision = "bf16" if fast else "fp32"
        return Stepper(self, state, precision, scale)

    def zero_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        shape = (self.config.layers, batch, self.config.hidden)
        return (torch.zeros(shape, device=device), torch.zeros(shape, device=device))


class Stepper:
    """One sampling step for a batch of rows that carries its own LSTM state: token ids (rows,) → logits (rows, vocab).

    On a CPU, PyTorch's nn.LSTM spends most of a one-token call on setting
    itself up (about 0.6 ms for a 3×256 model against 0.15 ms of arithmetic),
    so here a step is a few whole-tensor operations per layer:
    - the first layer's input is an embedding row, so its part of that
      layer's gates is a table by token (bias included), made once;
    - the rows live in one buffer [h_0, h_1, …] in the products' dtype, so
      layer k's input [h_{k-1}, h_k] is a slice of it and each new h is
      written once, where both this step's next layer and the next step read
      it: nothing is concatenated;
    - per layer one matrix product with the stacked gate weights (arranged
      once) and one sigmoid over all four gates; tanh is written with sigmoid,
      tanh(x) = 2·sigmoid(2x) − 1 (PyTorch's CPU tanh costs up to 7× a
      sigmoid), and the factors of 2 live in the weights and the stored
      state, where doubling and halving are exact: the cell-candidate weights
      are doubled, the cell state is kept as 2c, the buffer holds h/2, and
      the weights that read h are doubled;
    - the cell state is updated in place, and the head's weights are divided
      by the temperature once (`scale`).
    On CUDA the cuDNN LSTM does the step. Same numbers as `LSTMModel.forward`
    up to rounding (fp32: about 4e-5 in the logits).

    `precision="bf16"` keeps the buffer and the gate weights in bfloat16 and
    does the products in bf16; bias, gates, cell states and the head stay
    float32. On CPUs with AVX-512 BF16 that halves the products' time from
    two rows up, and the next-token distribution moves by about 5e-5 nats (KL).
    """

    BF16_ROWS = 2

    def __init__(self, model: LSTMModel, state: State, precision: str = "fp32", scale: float = 1.0,
                 fused: bool | None = None):
        """`state`: the (layers, rows, hidden) state the rows start from; the logits come out
        multiplied by `scale` (1 / temperature). `fused`: the CPU step above (default on a CPU)
        or the model's own nn.LSTM (default elsewhere)."""
        if precision not in ("fp32", "bf16"):
            raise TunesmithError(f"sampling precision must be fp32 or bf16, not {precision!r}")
        self.model = model
        self.precision = precision
        self.scale = scale
        self.fused = next(model.parameters()).device.type == "cpu" if fused is None else fused
        if not self.fused:
            self.state = (state[0].contiguous(), state[1].contiguous())
            return
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        lstm, hidden = model.lstm, model.config.hidden
        layers = lstm.num_layers

        def arranged(w: torch.Tensor) -> torch.Tensor:   # nn.LSTM's gate order i, f, g, o → i, f, o, 2g
            i, f, g, o = w.chunk(4, 0)
            return torch.cat([i, f, o, 2 * g], 0)

        with torch.no_grad():
            # inputs that are h arrive halved: their weights double. Layer 0's input is an
            # embedding row, so its share of layer 0's gates is a table by token, bias included.
            self.table = (F.linear(model.embed.weight, arranged(lstm.weight_ih_l0))
                          + arranged(lstm.bias_ih_l0) + arranged(lstm.bias_hh_l0)).float().contiguous()
            self.weights = [(arranged(lstm.weight_hh_l0) * 2).t().contiguous().to(dtype)]
            self.weights += [torch.cat([arranged(getattr(lstm, f"weight_ih_l{k}")),
                                        arranged(getattr(lstm, f"weight_hh_l{k}"))], 1).mul(2).t().contiguous().to(dtype)
                             for k in range(1, layers)]
            self.biases = [None] + [(arranged(getattr(lstm, f"bias_ih_l{k}")) + arranged(getattr(lstm, f"bias_hh_l{k}")))
                                    .float().contiguous() for k in range(1, layers)]
            self.head = (model.head.weight * (2 * scale)).contiguous(), (model.head.bias * scale).contiguous()
        h, c = state
        rows = h.size(1)
        # layer k reads columns inputs[k] of the buffer [h_0/2, h_1/2, …] and writes its new h/2 into outputs[k]
        self.outputs = [slice(k * hidden, (k + 1) * hidden) for k in range(layers)]
        self.inputs = [slice(max(k - 1, 0) * hidden, (k + 1) * hidden) for k in range(layers)]
        self.buffer = torch.empty(rows, layers * hidden, dtype=dtype)
        for k in range(layers):
            self.buffer[:, self.outputs[k]] = h[k] / 2
        self.c2 = [torch.empty(rows, hidden).copy_(c[k]).mul_(2) for k in range(layers)]

    @property
    def rows(self) -> int:
        return self.buffer.size(0) if self.fused else self.state[0].size(1)

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only these rows (a bool mask or indices), in this order."""
        if not self.fused:
            self.state = (self.state[0][:, rows], self.state[1][:, rows])
            return
        self.buffer = self.buffer[rows]
        self.c2 = [c[rows] for c in self.c2]

    @torch.inference_mode()
    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        model = self.model
        if not self.fused:
            logits, self.state = model(ids[:, None], self.state)
            return logits[:, -1, :] * self.scale
        hidden, buffer, last = model.config.hidden, self.buffer, len(self.weights) - 1
        for k, (weight, bias, c2) in enumerate(zip(self.weights, self.biases, self.c2)):
            product = torch.mm(buffer[:, self.inputs[k]], weight)
            # float32 gates: the product (bf16 or fp32) added to the token's table row or the bias
            gates = (torch.index_select(self.table, 0, ids).add_(product) if k == 0
                     else product.float().add_(bias)).sigmoid_()
            i, f, o, g = gates[:, :hidden], gates[:, hidden:2 * hidden], gates[:, 2 * hidden:3 * hidden], gates[:, 3 * hidden:]
            # 2c = f·2c + 2·i·tanh(g) = f·2c + 4·i·g − 2·i, where g holds sigmoid(2g)
            c2.mul_(f).addcmul_(i, g, value=4.0).sub_(i, alpha=2.0)
            # h/2 = o·tanh(c)/2 = o·(sigmoid(2c) − 1/2)
            half_h = torch.sigmoid(c2).sub_(0.5)
            if k < last:
                torch.mul(half_h, o, out=buffer[:, self.outputs[k]])
            else:
                half_h.mul_(o)
                buffer[:, self.outputs[k]] = half_h
        return F.linear(half_h, *self.head)
