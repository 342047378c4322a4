"""Model types: one file each, registered by name (`nets/base.py` says what a model type provides).

To add one, write `nets/NAME.py` with a `LanguageModel` subclass decorated
`@register_model("NAME")` and import it here; `--architecture NAME` trains it.
"""

from tunesmith.nets import frames, lstm
from tunesmith.nets.base import (ARCHITECTURES, LanguageModel, ModelConfig, ModelShape, State, Stepper, build_model,
                                 expand_rows, register_model, reset_rows, rows_of)
from tunesmith.nets.lstm import LSTMModel

__all__ = ["ARCHITECTURES", "LanguageModel", "LSTMModel", "ModelConfig", "ModelShape", "State", "Stepper",
           "build_model", "expand_rows", "register_model", "reset_rows", "rows_of", "frames", "lstm"]
