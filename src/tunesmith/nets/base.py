"""The model interface the trainer and sampler use, the model shape settings, and the registry
of model types (architectures).

A model type is one file in `nets/`: a `LanguageModel` subclass registered with
`@register_model("name")`. The trainer and the sampler use only

    model(ids, state) -> (logits, state)     ids (batch, time), logits (batch, time, vocab)
    model.zero_state(batch, device)           the state a piece starts from
    model.stepper(state, precision, scale)    one token at a time, for sampling

A state is a tuple of tensors with the batch on dimension 1 (an LSTM's (h, c)
is (layers, batch, hidden) each), so rows can be selected, reset, copied and
saved without knowing the model type. `config.json` names the architecture; a
bundle without one is an LSTM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from tunesmith import TunesmithError
from tunesmith.settings import check, setting

State = tuple[torch.Tensor, ...]
ARCHITECTURES: dict[str, type["LanguageModel"]] = {}


def register_model(name: str):
    """Class decorator: make a LanguageModel subclass the model type `name` (config.json's architecture)."""
    def register(cls: type[LanguageModel]) -> type[LanguageModel]:
        if name in ARCHITECTURES and ARCHITECTURES[name] is not cls:
            raise TunesmithError(f"two model types are called {name!r}")
        cls.architecture = name
        ARCHITECTURES[name] = cls
        return cls
    return register


def architectures() -> tuple[str, ...]:
    return tuple(ARCHITECTURES)


@dataclass(kw_only=True)
class ModelShape:
    """The shape of a model, as chosen for training."""

    architecture: str = setting("lstm", "model type", choices=architectures, group="model")
    layers: int = setting(3, "recurrent layers", low=1, high=16, group="model")
    hidden: int = setting(256, "units per layer", low=1, high=8192, group="model")
    embed: int = setting(64, "embedding size", low=1, high=8192, group="model")
    dropout: float = setting(0.3, "dropout between layers and before the head", low=0, high=1, high_open=True,
                             group="model")


@dataclass
class ModelConfig(ModelShape):
    """A model's shape and vocabulary size: what config.json holds."""

    vocab_size: int

    def __post_init__(self):
        if not isinstance(self.vocab_size, int) or self.vocab_size < 3:
            raise TunesmithError(f"vocabulary of {self.vocab_size} symbols is too small to model")
        check(self)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TunesmithError(f"the model config has entries this version does not know: {', '.join(sorted(unknown))}")
        return cls(**data)


class LanguageModel(nn.Module):
    """A next-token model over a codec's ids; subclasses implement forward and zero_state."""

    architecture = ""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    def zero_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        raise NotImplementedError

    def stepper(self, state: State, precision: str = "fp32", scale: float = 1.0) -> "Stepper":
        """A one-token-at-a-time view for sampling. This one calls the model itself; a model type may
        return a faster one with the same methods. `precision` is a hint it may ignore."""
        return Stepper(self, state, scale)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def describe(self) -> str:
        c = self.config
        return f"{c.layers}x{c.hidden} {c.architecture.upper()}"


class Stepper:
    """Sampling one token at a time: ids (rows,) → logits (rows, vocab) times `scale`; rows that
    finish leave with `keep`."""

    def __init__(self, model: LanguageModel, state: State, scale: float = 1.0):
        self.model, self.scale = model, scale
        self.state = tuple(s.contiguous() for s in state)

    @property
    def rows(self) -> int:
        return self.state[0].size(1)

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only these rows (a bool mask or indices), in this order."""
        self.state = tuple(s[:, rows] for s in self.state)

    @torch.inference_mode()
    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        logits, self.state = self.model(ids[:, None], self.state)
        return logits[:, -1, :] * self.scale


def build_model(config: ModelConfig) -> LanguageModel:
    """A new model of the type config.architecture names."""
    if config.architecture not in ARCHITECTURES:
        raise TunesmithError(f"unknown model type {config.architecture!r} (known: {', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[config.architecture](config)


def rows_of(state: State, rows) -> State:
    """These rows of a state (indices, a mask or a slice)."""
    return tuple(s[:, rows] for s in state)


def expand_rows(state: State, n: int) -> State:
    """A one-row state repeated for n rows."""
    return tuple(s.expand(-1, n, *s.shape[2:]).contiguous() for s in state)


def reset_rows(state: State, keep: torch.Tensor) -> State:
    """Rows where `keep` (a float (batch,) tensor of 0/1) is 0 go back to zero."""
    return tuple(s * keep.view(1, -1, *([1] * (s.dim() - 2))) for s in state)
