"""The settings of a training run: corpus and codec options, model shape, and training proper.

`TrainConfig` is what run.json records; every field states its default,
bounds and help once (`settings.py`), and the `tunesmith train` flags and
`command()` come from them.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from tunesmith import TunesmithError
from tunesmith.codecs import CodecOptions
from tunesmith.codecs.base import AS_WRITTEN
from tunesmith.nets import ModelShape
from tunesmith.settings import check, command_words, setting


def _check_books(books: list[str]) -> None:
    if not isinstance(books, list) or not books or not all(isinstance(b, str) and b.strip() for b in books):
        raise TunesmithError("--valid-books takes one or more file names or paths of the corpus")


def _check_device(name: str) -> None:
    if name in ("auto", "cpu", "cuda") or name.startswith("cuda:"):
        return
    raise TunesmithError(f"--device must be auto, cpu or cuda[:N], not {name!r}")


@dataclass(kw_only=True)
class TrainingOptions:
    """How a model is trained: batches, optimiser, length, validation, checkpoints."""

    batch_size: int = setting(16, "rows of pieces per batch", low=1, group="optimisation")
    seq_len: int = setting(128, "steps of back-propagation through time", low=2, group="optimisation")
    lr: float = setting(3e-3, "Adam learning rate", low=0, low_open=True, group="optimisation")
    lr_final: float = setting(0.05, "final learning rate as a fraction of --lr, cosine decay", low=0, high=1,
                              group="optimisation")
    warmup: int = setting(50, "steps of linear warm-up", low=0, flag=None)
    clip: float = setting(1.0, "gradient norm clip", low=0, low_open=True, group="optimisation")
    weight_decay: float = setting(0.0, "decoupled weight decay (AdamW; 0: plain Adam). 0.3 lowers a text model's "
                                       "loss on held-out books and on its own, but its raw samples at temperature "
                                       "1.0 keep their bars less often (README)", low=0, group="optimisation")
    epochs: int | None = setting(None, "stop after this many epochs in all", low=1, group="length, validation, checkpoints")
    steps: int | None = setting(None, "stop after this many steps in all", low=1, group="length, validation, checkpoints")
    minutes: float | None = setting(None, "stop after this many minutes of training in all (a resumed run counts "
                                          "its earlier minutes)", low=0, low_open=True,
                                    group="length, validation, checkpoints")
    valid_fraction: float = setting(0.1, "share of pieces held out for validation", low=0, high=1, high_open=True,
                                    group="length, validation, checkpoints")
    valid_books: list[str] | None = setting(None, "hold out these files of the corpus (books), named by file "
                                                  "name or path, as the validation set: every piece read "
                                                  "from them validates, the other files train (instead of "
                                                  "--valid-fraction's pieces drawn from every file)",
                                            check=_check_books, metavar="FILE",
                                            group="length, validation, checkpoints")
    valid_split: str | None = setting(None, "roll JSON with splits: validate on this split of the same files (e.g. "
                                            "valid) and train on every piece of --split, instead of holding out "
                                            "--valid-fraction of them (the benchmarks' protocol)", metavar="NAME",
                                      group="length, validation, checkpoints")
    eval_every: int = setting(500, "validate, plot and checkpoint every N steps", low=1,
                              group="length, validation, checkpoints")
    save_every: int | None = setting(None, "checkpoint every N steps (default: at every validation)", low=1,
                                     group="length, validation, checkpoints")
    preview_length: int = setting(400, "tokens of the preview sampled after each epoch", low=0,
                                  group="length, validation, checkpoints")
    seed: int = setting(1, "random seed: same seed, same run", group="length, validation, checkpoints")
    device: str = setting("auto", "auto (CUDA when present), cpu, cuda or cuda:N", check=_check_device,
                          group="length, validation, checkpoints")
    precision: str = setting("fp32", "CUDA: bf16 or fp16 (with loss scaling) mixed precision; CPU: fp32",
                             choices=("fp32", "bf16", "fp16"), group="length, validation, checkpoints")
    copy_index: bool = setting(True, "store an index of the corpus's melodies in the bundles (the copy guard at "
                                     "sampling); --no-copy-index leaves it out",
                               group="length, validation, checkpoints")


@dataclass(kw_only=True)
class TrainConfig(TrainingOptions, ModelShape, CodecOptions):
    """Everything a run is made with (run.json's settings)."""

    corpus: list[str] = setting(None, "named corpus (see 'tunesmith corpus list'), file, folder or glob; "
                                      "STYLE=CORPUS names a style")
    out: str = setting(None, "run folder to create (or to continue with --resume)")

    @classmethod
    def saved(cls, settings: dict) -> "TrainConfig":
        """The settings of run.json: a run made before --unit-length read its ABC tunes as written."""
        return cls(**{"unit_length": AS_WRITTEN, **settings})

    def command(self) -> str:
        """The `tunesmith train` command line that makes this run (flags left at their defaults are
        left out; settings without a flag are named after a '#')."""
        words, library = command_words(self, skip=("corpus", "out"))
        words = ["tunesmith", "train", "--corpus", *self.corpus, *words, "--out", self.out]
        line = " ".join(shlex.quote(w) for w in words)
        return line + (f"  # and {', '.join(library)} (library only)" if library else "")

    def check(self) -> None:
        """Refuse bad settings before any work starts."""
        check(self)


def recipe_of(checkpoint: Path) -> str | None:
    """The `tunesmith train` command of the run a checkpoint belongs to (run.json beside best/, last/
    or checkpoints/), or None when it is not in a run folder."""
    for folder in (checkpoint.parent, checkpoint.parent.parent):
        try:
            settings = json.loads((folder / "run.json").read_text(encoding="utf-8"))["settings"]
            return TrainConfig.saved(settings).command()
        except (OSError, ValueError, KeyError, TypeError, TunesmithError):
            continue
    return None
