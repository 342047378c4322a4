"""The training loop (`start.train(cfg)` prepares the run folder and hands it to a `Trainer`).

A `Trainer` is one process's share of a run. Its named steps:

    restore()        continue from last/ (weights, optimiser, generators, model state)
    run()            epochs until a limit: step() per chunk, report() every --eval-every
                     steps (validate(), metrics, plot, checkpoint()), a preview after each epoch
    step(chunk)      one optimisation step: forward, loss, backward, clip, update, schedule
    validate()       bits per token and accuracy on the validation pieces
    checkpoint(val)  checkpoints/step-N/, last/ with the trainer state, best/ when it improved

It sees the model only through the model interface (`nets/base.py`):
`model(ids, state) -> (logits, state)`, `describe()` and `num_parameters()`; the
state carried from chunk to chunk is a tuple of tensors with the batch on
dimension 1, whatever the model type.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from tunesmith import TunesmithError, atomic, bundle, data, log
from tunesmith.device import pick_device
from tunesmith.distributed import Dist
from tunesmith.evaluate.tokens import LN2, evaluate_tokens
from tunesmith.nets import ModelConfig, State, build_model, reset_rows, rows_of
from tunesmith.train import claim
from tunesmith.train.config import TrainConfig
from tunesmith.train.console import clip_lines, postfix, preview
from tunesmith.train.optim import adam, lr_at
from tunesmith.train.plot import plot_metrics
from tunesmith.train.runfolder import Prepared, append_metrics, load_trainer_state, save_trainer_state, trim_metrics


@dataclass
class RunResult:
    out: Path
    steps: int
    epochs_done: float
    best_val_bits: float | None
    last_val_bits: float | None
    minutes: float
    tokens_per_s: float
    history: list[dict] = field(default_factory=list)


@dataclass
class Progress:
    """Where a run stands (trainer.json keeps it for a resume)."""

    step: int = 0
    epoch: int = 0
    chunk_in_epoch: int = 0
    elapsed_before: float = 0.0     # seconds trained before this process started (a resumed run's)
    best: dict | None = None        # the best validation so far: {"val_bits", "step"}

    def epochs(self, per_epoch: int) -> float:
        return self.epoch + self.chunk_in_epoch / max(per_epoch, 1)


@dataclass
class Window:
    """Training loss and accuracy since the last metrics row."""

    loss: float = 0.0
    correct: int = 0
    tokens: int = 0
    start: float = field(default_factory=time.monotonic)


class Trainer:
    """One process's share of a training run: the model, its optimiser, and where the run stands."""

    def __init__(self, cfg: TrainConfig, prepared: Prepared, ranks: Dist):
        self.cfg, self.ranks = cfg, ranks
        self.out, self.run_info, self.codec = prepared.out, prepared.run, prepared.codec
        self.train_set, self.valid_set = prepared.train_set, prepared.valid_set
        savers = [x.save for x in (prepared.index, prepared.texture) if x is not None]
        self.extra = (lambda folder: [save(folder) for save in savers]) if savers else None
        self.device = ranks.device(pick_device(cfg.device))
        if cfg.precision != "fp32" and self.device.type != "cuda":
            raise TunesmithError(f"--precision {cfg.precision} is mixed precision on a CUDA GPU; "
                                 f"on {self.device} use fp32")
        self.amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
        self.scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
        torch.manual_seed(cfg.seed)
        model_cfg = ModelConfig(vocab_size=self.codec.vocab_size, architecture=cfg.architecture, layers=cfg.layers,
                                hidden=cfg.hidden, embed=cfg.embed, dropout=cfg.dropout)
        self.model = build_model(model_cfg)
        self.model.adapt(self.codec)
        self.model.to(self.device)
        self.stepper: torch.nn.Module = self.model    # the model, or its DDP wrapper with several processes
        self.optimizer = adam(self.model, cfg)
        self.batch_size = min(cfg.batch_size, len(self.train_set) // ranks.world)
        if self.batch_size < 1:
            raise TunesmithError(f"{len(self.train_set)} training pieces cannot feed {ranks.world} processes: "
                                 f"each needs at least one")
        self.per_epoch = data.steps_per_epoch(self.train_set, self.batch_size, cfg.seq_len, cfg.seed, ranks.world)
        totals = [x for x in (cfg.steps, cfg.epochs * self.per_epoch if cfg.epochs else None) if x]
        self.total_steps = min(totals) if totals else None
        self.save_every = cfg.save_every or cfg.eval_every
        self.deadline = cfg.minutes * 60 if cfg.minutes else None
        self.progress = Progress()
        self.state: State | None = None      # the model state carried from chunk to chunk
        self.history: list[dict] = []
        self.window = Window()
        self.tokens_total, self.last_val = 0, None
        self.started = time.monotonic()
        self.bar = None

    def elapsed(self) -> float:
        """Seconds trained in all, a resumed run's earlier ones included."""
        return self.progress.elapsed_before + time.monotonic() - self.started

    # ---- resuming ------------------------------------------------------------------------

    def restore(self) -> None:
        """Continue from last/: weights, optimiser, random generators, where the run stood, its metrics
        and (when as many processes resume it as saved it) this process's rows of the model state."""
        last = self.out / "last"
        if not (last / "config.json").exists():
            raise TunesmithError(f"--resume: '{self.out}' has no checkpoint yet (no last/)")
        loaded = bundle.load(last, self.device)
        self.model.load_state_dict(loaded.model.state_dict())
        saved, state = load_trainer_state(last, self.optimizer, self.device)
        p = self.progress = Progress(saved["step"], saved["epoch"], saved["chunk_in_epoch"], saved["elapsed"],
                                     saved.get("best"))
        world = self.ranks.world
        if saved.get("world", 1) != world:
            log.warn(f"the run was saved by {saved.get('world', 1)} processes and resumes with {world}: "
                     f"epoch {p.epoch} starts again from its beginning")
            p.chunk_in_epoch, state = 0, None
        elif state is not None:   # this process's rows of the saved state
            rows = state[0].size(1) // world
            mine = slice(self.ranks.rank * rows, (self.ranks.rank + 1) * rows)
            state = tuple(s.contiguous() for s in rows_of(state, mine))
        self.state = state
        self.history = trim_metrics(self.out, p.step, write=self.ranks.main)
        log.info(f"resuming {self.out} at step {p.step} (epoch {p.epoch}, {p.elapsed_before / 60:.1f} min trained)")

    # ---- the loop ------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Train until a limit, checkpoint at the end (and on Ctrl-C), and sum up."""
        self._announce()
        if self.ranks.active:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.stepper = DistributedDataParallel(self.model, device_ids=device_ids)
            torch.manual_seed(self.cfg.seed + 1000 * self.ranks.rank)   # each process its own dropout masks
        self.started = time.monotonic()
        self.model.train()
        self.bar = log.progress(self.total_steps, "training", unit="step", initial=self.progress.step)
        self.window = Window()
        try:
            while not self.done():
                if self._train_epoch():
                    break
                self._end_epoch()
        except KeyboardInterrupt:
            log.warn("interrupted: saving a checkpoint to resume from")
            self.checkpoint(self.validate() or None, gather=False)   # the other processes may be gone already
            raise
        finally:
            self.bar.close()
        if not self.history or self.history[-1]["step"] != self.progress.step:
            self.checkpoint(self.validate() or None)
        self._check_in_sync()
        return self._result()

    def _train_epoch(self) -> bool:
        """The rest of the current epoch; True when a limit stopped it before its end."""
        cfg, p, ranks = self.cfg, self.progress, self.ranks
        for chunk in data.epoch_chunks(self.train_set, self.batch_size, cfg.seq_len, cfg.seed, p.epoch,
                                       p.chunk_in_epoch, ranks.rank, ranks.world):
            lr = self.step(chunk)
            stop = self.done()
            if p.step % cfg.eval_every == 0 or stop:
                self.report(lr, stop)
            if stop:
                return True
        return False

    def _end_epoch(self) -> None:
        p = self.progress
        p.epoch += 1
        p.chunk_in_epoch = 0
        self._require_finite()
        if self.ranks.main:
            text = preview(self.model, self.codec, self.cfg.preview_length, self.device, seed=self.cfg.seed + p.epoch)
            self.model.train()
            log.info(f"--- preview after epoch {p.epoch} (step {p.step}) ---\n{clip_lines(text)}")

    def done(self) -> bool:
        """A limit is reached: steps, epochs, or the clock (every process stops at the same step)."""
        cfg, p = self.cfg, self.progress
        if cfg.steps is not None and p.step >= cfg.steps:
            return True
        if cfg.epochs is not None and p.epoch >= cfg.epochs:
            return True
        return self.ranks.any(self.deadline is not None and self.elapsed() >= self.deadline)

    def step(self, chunk: data.Chunk) -> float:
        """One optimisation step on one chunk: forward, loss, backward, clip, update, at the learning
        rate the schedule gives this step (returned)."""
        cfg, p, w = self.cfg, self.progress, self.window
        if self.state is not None and chunk.reset.any():
            self.state = reset_rows(self.state, torch.from_numpy(~chunk.reset).to(self.device, self.state[0].dtype))
        x, y = self._on_device(chunk)
        lr = lr_at(cfg, p.step, self.total_steps, self.elapsed())
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        mask = y != data.IGNORE
        n = int(mask.sum())
        with torch.autocast(self.device.type, dtype=self.amp, enabled=self.amp is not None):
            logits, state = self.stepper(x, self.state)
            # a sum over this process's tokens / their count: a process whose rows have all
            # ended this step (DDP) contributes zero, not NaN
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1),
                                   ignore_index=data.IGNORE, reduction="sum") / max(n, 1)
        self.state = tuple(s.detach().float() for s in state)
        value = loss.item()
        if self.ranks.any(not math.isfinite(value)):
            raise self._diverged(p.step + 1, f"loss {value:g}")
        self._update(loss)
        w.correct += int(((logits.detach().argmax(-1) == y) & mask).sum())
        p.step += 1
        p.chunk_in_epoch += 1
        w.loss += value * n
        w.tokens += n
        self.tokens_total += n
        self.bar.update(1)
        return lr

    def _on_device(self, chunk: data.Chunk) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = torch.from_numpy(chunk.inputs), torch.from_numpy(chunk.targets)
        if self.device.type == "cuda":
            x, y = x.pin_memory(), y.pin_memory()
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def _update(self, loss: torch.Tensor) -> None:
        """Backward, clip the gradient norm, step the optimiser (through the fp16 loss scaler)."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
            self.optimizer.step()

    # ---- divergence ------------------------------------------------------------------------

    def _diverged(self, step: int, what: str) -> TunesmithError:
        """The one-line end of a run whose loss or weights are no longer finite numbers."""
        if claim.has_checkpoint(self.out):
            return TunesmithError(f"training diverged at step {step} ({what}); the last good checkpoint is in "
                                  f"{self.out / 'last'}: try a lower --lr")
        return TunesmithError(f"training diverged at step {step} ({what}) before its first checkpoint: start it "
                              f"again with a lower --lr")

    def _require_finite(self) -> None:
        """Refuse to validate, preview or checkpoint weights that are not finite (the same on every
        process: the copies of the weights are identical)."""
        with torch.no_grad():
            finite = all(bool(torch.isfinite(q).all()) for q in self.model.parameters())
        if not finite:
            raise self._diverged(self.progress.step, "weights not finite")

    # ---- validation, metrics, checkpoints ------------------------------------------------

    def validate(self) -> dict:
        """Bits per token and accuracy on the validation pieces ({} without any)."""
        if not len(self.valid_set):
            return {}
        return evaluate_tokens(self.model, self.valid_set, self.device, self.batch_size)

    def report(self, lr: float, stop: bool) -> None:
        """A metrics row for the steps since the last: validate, log, plot, checkpoint when due."""
        p, w = self.progress, self.window
        self._require_finite()
        now = time.monotonic()
        row = {"step": p.step, "epoch": round(p.epochs(self.per_epoch), 3),
               "train_bits": w.loss / max(w.tokens, 1) / LN2,
               "train_accuracy": w.correct / max(w.tokens, 1),
               "lr": lr, "tokens_per_s": w.tokens / max(now - w.start, 1e-9),
               "elapsed_s": round(p.elapsed_before + now - self.started, 1)}
        val = self.validate()
        if val and val.get("tokens") and not math.isfinite(val["bits"]):
            raise self._diverged(p.step, f"validation loss {val['bits']:g}")
        if val:
            row.update(val_bits=val["bits"], val_accuracy=val["accuracy"])
            self.last_val = val["bits"]
        self.history.append(row)
        if self.ranks.main:
            append_metrics(self.out / "metrics.jsonl", row)
            plot_metrics(self.history, self.out / "metrics.png")
        if p.step % self.save_every == 0 or stop:
            self.checkpoint(val)
        self.bar.set_postfix_str(postfix(row, self.deadline, p.elapsed_before + now - self.started))
        self.window = Window()

    def checkpoint(self, val: dict | None, gather: bool = True) -> None:
        """checkpoints/step-N/, last/ (with the trainer state to resume from) and best/ when the
        validation loss improved (or there is no validation)."""
        p, ranks = self.progress, self.ranks
        self._require_finite()   # never a checkpoint of a diverged model
        state = self.state
        if gather and ranks.active and state is not None:   # every process's rows, for an exact resume
            state = tuple(ranks.gather_rows(s) for s in state)
        if not ranks.main:
            return
        bits = val.get("bits") if val else None
        improved = bits is not None and (p.best is None or bits < p.best["val_bits"])
        if improved:
            p.best = {"val_bits": bits, "step": p.step}
        info = self._card({"val_bits": bits, "val_accuracy": val.get("accuracy") if val else None})
        bundle.save(self.out / "checkpoints" / f"step-{p.step:07d}", self.model, self.codec, info, extra=self.extra)
        with atomic.folder(self.out / "last") as tmp:
            bundle.write_files(tmp, self.model, self.codec, info, extra=self.extra)
            progress = {"step": p.step, "epoch": p.epoch, "chunk_in_epoch": p.chunk_in_epoch,
                        "elapsed": self.elapsed(), "best": p.best, "world": ranks.world}
            save_trainer_state(tmp, self.optimizer, progress, state)
        if improved or not len(self.valid_set):
            bundle.save(self.out / "best", self.model, self.codec, info, extra=self.extra)

    def _card(self, extra: dict) -> dict:
        """A checkpoint's card.json: the corpus, the codec and where the run stood."""
        p, run, codec = self.progress, self.run_info, self.codec
        return {"corpus": run["corpus"]["name"], "format": codec.format, "codec": codec.kind,
                "styles": codec.styles, "transpose": self.cfg.transpose,
                "pieces": run["corpus"]["pieces"], "train_pieces": len(self.train_set),
                "valid_pieces": len(self.valid_set),
                "step": p.step, "epoch": round(p.epochs(self.per_epoch), 3),
                "train_minutes": round(self.elapsed() / 60, 2),
                "date": time.strftime("%Y-%m-%d %H:%M:%S"), "run": str(self.out.resolve()), **extra}

    # ---- telling ---------------------------------------------------------------------------

    def _announce(self) -> None:
        cfg, ranks, model = self.cfg, self.ranks, self.model
        log.info(f"model: {model.describe()}, {model.num_parameters():,} parameters, "
                 f"{self.codec.vocab_size} symbols; {len(self.train_set)} training / {len(self.valid_set)} "
                 f"validation pieces, {self.train_set.targets:,} training tokens, {self.per_epoch} steps per epoch "
                 f"on {self.device}"
                 + (f", {ranks.world} processes ({ranks.backend}), {self.batch_size} rows each" if ranks.active else "")
                 + (f", {cfg.precision} mixed precision" if self.amp else ""))

    def _check_in_sync(self) -> None:
        """With several processes: distributed.json, and a warning if the copies of the weights differ."""
        ranks = self.ranks
        if not ranks.active:
            return
        sums = ranks.checksums(self.model)
        in_sync = all(s == sums[0] for s in sums)
        if ranks.main:
            atomic.write_text(self.out / "distributed.json", json.dumps(
                {"world": ranks.world, "backend": ranks.backend, "rows_per_process": self.batch_size,
                 "weights_identical": in_sync, "weight_checksums": sums}, indent=1) + "\n")
        if not in_sync:
            log.warn("the processes ended with different weights: this should not happen, please report it")

    def _result(self) -> RunResult:
        p = self.progress
        minutes = self.elapsed() / 60
        tok_s = self.tokens_total / max(time.monotonic() - self.started, 1e-9)
        best_bits = p.best["val_bits"] if p.best else None
        log.info(f"done: {p.step} steps, {minutes:.1f} min, {tok_s:,.0f} tokens/s; "
                 f"best validation {best_bits:.3f} bits/token" if best_bits is not None else
                 f"done: {p.step} steps, {minutes:.1f} min (no validation pieces)")
        return RunResult(self.out, p.step, p.epochs(self.per_epoch), best_bits, self.last_val, minutes, tok_s,
                         self.history)

