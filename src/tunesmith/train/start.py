"""`train(cfg)`: a run from its folder to its end. The folder is locked and claimed (`claim.py`:
a new run, a resumed one, or one started again), prepared (`runfolder.py`), and trained by a
`Trainer` (`trainer.py`)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from tunesmith import corpus as corpus_mod
from tunesmith import log
from tunesmith.device import pick_device
from tunesmith.distributed import Dist
from tunesmith.train import claim
from tunesmith.train.config import TrainConfig
from tunesmith.train.runfolder import prepare
from tunesmith.train.trainer import RunResult, Trainer


def train(cfg: TrainConfig, resume: bool = False, overwrite: bool = False) -> RunResult:
    """Train a new run into cfg.out, or with `resume` continue the run there: its stored settings
    rule, and only the limits given now (epochs, steps, minutes, device) extend or move it.
    The folder is locked for the run (a second run into it is refused); one that holds a run
    without a checkpoint starts again from the beginning, and `overwrite` starts any again."""
    cfg.check()
    if resume:
        limits = {"epochs": cfg.epochs, "steps": cfg.steps, "minutes": cfg.minutes, "device": cfg.device}
    else:
        # paths are recorded absolute, so --resume works from any folder
        cfg.corpus = [s if s in corpus_mod.NAMED else str(Path(s).expanduser().absolute()) for s in cfg.corpus]
    ranks = Dist.from_env(pick_device(cfg.device))
    quiet_before, ended = log.is_quiet(), False
    try:
        if not ranks.main:
            log.set_quiet(True)   # one process talks
        with ExitStack() as held:
            try:
                held.enter_context(claim.lock(Path(cfg.out), ranks.main))
            except BaseException:
                ranks.agree(False)   # the other processes wait for rank 0 in prepare
                raise
            prepared = prepare(cfg, resume, ranks, overwrite)
            trainer = Trainer(_settings(cfg, prepared.run, limits if resume else None), prepared, ranks)
            if resume and claim.has_checkpoint(prepared.out):
                trainer.restore()
            result = trainer.run()
            ended = True
            return result
    finally:
        log.set_quiet(quiet_before)
        ranks.close(together=ended)


def _settings(cfg: TrainConfig, run: dict, limits: dict | None) -> TrainConfig:
    """The settings a run trains with: `cfg` for a new run; run.json's with the `limits` given now
    for a resumed one. Without any limit a run trains 20 epochs."""
    if limits is not None:
        cfg = TrainConfig.saved(run["settings"])
        for k, v in limits.items():
            if v is not None and (k != "device" or v != "auto"):
                setattr(cfg, k, v)
    if cfg.epochs is None and cfg.steps is None and cfg.minutes is None:
        cfg.epochs = 20
    return cfg
