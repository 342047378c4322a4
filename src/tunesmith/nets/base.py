"""The model interface the trainer and sampler use, the model shape settings, and the registry
of model types (architectures).

A model type is one file in `nets/`: a `LanguageModel` subclass registered with
`@register_model("name")`. The trainer and the sampler use only

    model(ids, state) -> (logits, state)     ids (batch, time), logits (batch, time, vocab)
    model.zero_state(batch, device)           the state a piece starts from
    model.stepper(state, precision, scale)    one token at a time, for sampling
    model.adapt(codec)                        once, when a new model is made for a run's codec

A state is a tuple of tensors with the batch on dimension 1 (an LSTM's (h, c)
is (layers, batch, hidden) each), so rows can be selected, reset, copied and
saved without knowing the model type. `config.json` names the architecture; a
bundle without one is an LSTM.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from tunesmith import TunesmithError
from tunesmith.settings import check_value, setting, spec_of

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
    """A model's shape and vocabulary size: what config.json holds. Every field is checked for its
    type, bounds and finiteness (a damaged config.json is one sentence, not a traceback)."""

    vocab_size: int

    def __post_init__(self):
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), _FIELD_TYPES.get(f.name, int))
        self.dropout = float(self.dropout)
        if self.vocab_size < 3:
            raise TunesmithError(f"vocabulary of {self.vocab_size} symbols is too small to model")
        if self.vocab_size > MAX_VOCAB:
            raise TunesmithError(f"vocabulary of {self.vocab_size} symbols is more than {MAX_VOCAB:,}")
        for f in fields(self):   # the field's own name: this is config.json speaking, not a flag
            spec = spec_of(f)
            if spec is not None:
                check_value(f.name, spec, getattr(self, f.name))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ModelConfig":
        if not isinstance(data, dict):
            raise TunesmithError(f"the model config must be a JSON object, not {_shown(data)}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TunesmithError(f"the model config has entries this version does not know: {', '.join(sorted(unknown))}")
        if "vocab_size" not in data:
            raise TunesmithError("the model config does not say its vocab_size")
        return cls(**data)


MAX_VOCAB = 10_000_000
_FIELD_TYPES = {"architecture": str, "dropout": float}


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_type(name: str, value, kind: type) -> None:
    """Refuse a config value of the wrong JSON type: a string for a number, a bool for an int, NaN."""
    if kind is str:
        ok = isinstance(value, str)
        what = "a string"
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        what = "a finite number"
    else:
        ok = isinstance(value, int) and not isinstance(value, bool)
        what = "a whole number"
    if not ok:
        raise TunesmithError(f"{name} must be {what}, not {_shown(value)}")


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

    def adapt(self, codec) -> None:
        """Called once when a new model is made for training, with the run's codec: a model type that
        reads something of the vocabulary (which token is which pitch) takes it here, into a buffer
        saved with its weights. Most take nothing."""

    def stepper(self, state: State, precision: str = "fp32", scale: float = 1.0) -> "Stepper":
        """A one-token-at-a-time view for sampling. This one calls the model itself; a model type may
        return a faster one with the same methods. `precision` is a hint it may ignore."""
        return Stepper(self, state, scale)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @classmethod
    def parameter_shapes(cls, config: ModelConfig) -> dict[str, tuple[int, ...]]:
        """The shape of every tensor of the model's state_dict for `config`, and nothing allocated:
        the model is built on the meta device. A model type that cannot be may override this."""
        with torch.device("meta"), _NoRandomInit():
            model = cls(config)
        return {name: tuple(t.shape) for name, t in model.state_dict().items()}

    def describe(self) -> str:
        c = self.config
        return f"{c.layers}x{c.hidden} {c.architecture.upper()}"


class _NoRandomInit(TorchFunctionMode):
    """Random initialisation of meta tensors skipped: they hold no numbers, and PyTorch's first
    random draw on the meta device costs seconds of imports (shapes are all that is wanted)."""

    RANDOM = frozenset({"normal_", "uniform_", "trunc_normal_", "orthogonal_", "kaiming_normal_", "kaiming_uniform_",
                        "xavier_normal_", "xavier_uniform_", "sparse_", "random_", "bernoulli_", "exponential_",
                        "log_normal_", "cauchy_", "geometric_"})

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
        if getattr(func, "__name__", "") in self.RANDOM and isinstance(target, torch.Tensor) and target.is_meta:
            return target
        return func(*args, **kwargs)


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


def parameter_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes a model of `config` has, computed without allocating it (the loader
    checks a bundle's weights and size against them before building anything)."""
    if config.architecture not in ARCHITECTURES:
        raise TunesmithError(f"unknown model type {config.architecture!r} (known: {', '.join(ARCHITECTURES)})")
    try:
        return ARCHITECTURES[config.architecture].parameter_shapes(config)
    except TunesmithError:
        raise
    except Exception as exc:  # noqa: BLE001 - a shape a model type cannot take is one sentence
        raise TunesmithError(f"a {config.architecture} model cannot take the shape {config.to_json()} "
                             f"({type(exc).__name__}: {exc})") from None


def rows_of(state: State, rows) -> State:
    """These rows of a state (indices, a mask or a slice)."""
    return tuple(s[:, rows] for s in state)


def expand_rows(state: State, n: int) -> State:
    """A one-row state repeated for n rows."""
    return tuple(s.expand(-1, n, *s.shape[2:]).contiguous() for s in state)


def reset_rows(state: State, keep: torch.Tensor) -> State:
    """Rows where `keep` (a float (batch,) tensor of 0/1) is 0 go back to zero."""
    return tuple(s * keep.view(1, -1, *([1] * (s.dim() - 2))) for s in state)
