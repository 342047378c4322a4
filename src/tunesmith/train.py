"""Training runs: loop, validation, checkpoints, metrics, plots, preview, resume.

A run folder holds:

    run.json            the settings, the corpus and the train/validation split
    metrics.jsonl       one line per validation (and per logging interval)
    metrics.png         training and validation bits per token and accuracy
    checkpoints/step-N/ a model bundle per checkpoint (card: step, epoch, val loss)
    best/               the bundle with the lowest validation loss
    last/               the newest checkpoint plus the trainer state to resume from
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from tunesmith import TunesmithError, __version__, atomic, bundle, data, log
from tunesmith import corpus as corpus_mod
from tunesmith.codecs import CharCodec, Codec, EventCodec, codec_from_json
from tunesmith.corpus import scores
from tunesmith.distributed import Dist
from tunesmith.model import LSTMModel, ModelConfig

LN2 = math.log(2)


@dataclass
class TrainConfig:
    corpus: list[str]
    out: str
    format: str | None = None
    codec: str = "auto"             # chars (ABC/kern text), events (notes of any score), auto: by the files
    parts: str = "melody"           # events: melody (top part), all, or a part number
    chords: str = "reduce"          # events: reduce (one tone) or keep (chord tokens)
    transpose: str | None = None    # events: move every piece to this key (C: C major / A minor)
    augment: int = 0                # events: transposed copies of each training piece
    copy_index: bool = True         # keep an index of the corpus's melodies in every bundle (copy guard)
    layers: int = 3
    hidden: int = 256
    embed: int = 64
    dropout: float = 0.3
    batch_size: int = 16
    seq_len: int = 128
    lr: float = 3e-3
    lr_final: float = 0.05          # fraction of lr reached at the end (cosine decay)
    warmup: int = 50                # steps of linear warm-up
    clip: float = 1.0
    weight_decay: float = 0.0
    epochs: int | None = None
    steps: int | None = None
    minutes: float | None = None
    valid_fraction: float = 0.1
    eval_every: int = 500
    save_every: int | None = None   # default: every validation
    seed: int = 1
    device: str = "auto"
    precision: str = "fp32"         # fp32, or bf16 / fp16 mixed precision on CUDA
    preview_length: int = 400

    def command(self) -> str:
        """The `tunesmith train` command line that makes this run (flags left at their defaults are
        left out). Settings without a flag (warmup, weight_decay) are named after a '#'."""
        import shlex

        words = ["tunesmith", "train", "--corpus", *self.corpus]
        no_flag = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("corpus", "out") or value == f.default:
                continue
            if f.name in ("warmup", "weight_decay"):
                no_flag.append(f"{f.name}={value}")
            elif f.name == "copy_index":
                words.append("--no-copy-index")
            else:
                words += [f"--{f.name.replace('_', '-')}", str(value)]
        words += ["--out", self.out]
        line = " ".join(shlex.quote(w) for w in words)
        return line + (f"  # and {', '.join(no_flag)} (library only)" if no_flag else "")

    def check(self) -> None:
        """Refuse bad settings before any work starts."""
        rules = [
            (self.batch_size >= 1, f"--batch-size must be at least 1, not {self.batch_size}"),
            (self.seq_len >= 2, f"--seq-len must be at least 2, not {self.seq_len}"),
            (self.lr > 0, f"--lr must be positive, not {self.lr}"),
            (0 <= self.lr_final <= 1, f"--lr-final must be in [0, 1], not {self.lr_final}"),
            (self.clip > 0, f"--clip must be positive, not {self.clip}"),
            (self.epochs is None or self.epochs >= 1, f"--epochs must be at least 1, not {self.epochs}"),
            (self.steps is None or self.steps >= 1, f"--steps must be at least 1, not {self.steps}"),
            (self.minutes is None or self.minutes > 0, f"--minutes must be positive, not {self.minutes}"),
            (0 <= self.valid_fraction < 1, f"--valid-fraction must be in [0, 1), not {self.valid_fraction}"),
            (self.eval_every >= 1, f"--eval-every must be at least 1, not {self.eval_every}"),
            (self.save_every is None or self.save_every >= 1, f"--save-every must be at least 1, not {self.save_every}"),
            (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
             f"--device must be auto, cpu or cuda[:N], not {self.device!r}"),
            (self.precision in ("fp32", "bf16", "fp16"), f"--precision must be fp32, bf16 or fp16, not {self.precision!r}"),
            (self.codec in corpus_mod.CODECS, f"--codec must be one of {', '.join(corpus_mod.CODECS)}, not {self.codec!r}"),
            (self.chords in ("reduce", "keep"), f"--chords must be reduce or keep, not {self.chords!r}"),
            (0 <= self.augment <= len(corpus_mod.SHIFTS),
             f"--augment must be between 0 and {len(corpus_mod.SHIFTS)}, not {self.augment}"),
        ]
        for ok, message in rules:
            if not ok:
                raise TunesmithError(message)
        ModelConfig(vocab_size=3, layers=self.layers, hidden=self.hidden, embed=self.embed, dropout=self.dropout)
        scores.ReaderSettings(self.parts).check()
        if self.transpose:
            scores.parse_key(self.transpose)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TunesmithError("--device cuda was asked for, but PyTorch sees no CUDA GPU here")
    return torch.device(name)


# ---- evaluation --------------------------------------------------------------------------

@torch.inference_mode()
def evaluate_tokens(model: LSTMModel, tokens: data.TokenSet, device: torch.device,
                    batch_size: int = 32, chunk: int = 512) -> dict:
    """Negative log-likelihood of every piece from a zero state: bits per token, accuracy.

    Pieces are evaluated independently, so the number does not depend on batching.
    """
    was_training = model.training
    model.eval()
    order = sorted(range(len(tokens)), key=tokens.length)
    total_nll, correct, count = 0.0, 0, 0
    for start in range(0, len(order), batch_size):
        group = order[start:start + batch_size]
        state = None
        for c in data.chunks(tokens, group, chunk):
            x = torch.from_numpy(c.inputs).to(device)
            y = torch.from_numpy(c.targets).to(device)
            logits, state = model(x, state)
            mask = y != data.IGNORE
            total_nll += F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1),
                                         ignore_index=data.IGNORE, reduction="sum").item()
            correct += ((logits.argmax(-1) == y) & mask).sum().item()
            count += mask.sum().item()
    model.train(was_training)
    if count == 0:
        return {"bits": float("nan"), "accuracy": float("nan"), "tokens": 0}
    return {"bits": total_nll / count / LN2, "accuracy": correct / count, "tokens": count}


def _adam(model: torch.nn.Module, cfg: "TrainConfig") -> torch.optim.Optimizer:
    """Adam, fused where this PyTorch has it for the device (CPU from 2.4): one kernel over all
    parameters instead of a dozen tensor operations each, about 10x faster on a CPU for the
    default model (5.0 → 0.5 ms a step). The same update and the same saved state."""
    try:
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


# ---- the run folder ----------------------------------------------------------------------

def _save_trainer_state(folder: Path, optimizer: torch.optim.Optimizer, state: dict,
                        hidden: tuple[torch.Tensor, torch.Tensor] | None) -> None:
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    if hidden is not None:
        tensors["hidden.h"] = hidden[0].detach().cpu().contiguous()
        tensors["hidden.c"] = hidden[1].detach().cpu().contiguous()
    scalars: dict[str, dict] = {}
    for pid, pstate in optimizer.state_dict()["state"].items():
        for k, v in pstate.items():
            if torch.is_tensor(v) and v.dim() > 0:
                tensors[f"opt.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[k] = float(v)
    save_file(tensors, str(folder / "trainer.safetensors"))
    (folder / "trainer.json").write_text(json.dumps({**state, "optimizer_scalars": scalars}, indent=2))


def _load_trainer_state(folder: Path, optimizer: torch.optim.Optimizer, device: torch.device):
    try:
        tensors = load_file(str(folder / "trainer.safetensors"))
        state = json.loads((folder / "trainer.json").read_text())
    except FileNotFoundError:
        raise TunesmithError(f"{folder} has no trainer state to resume from") from None
    except Exception as exc:
        raise TunesmithError(f"the trainer state in {folder} is corrupt ({exc})") from None
    opt_state = optimizer.state_dict()
    restored = {}
    for pid in range(len(opt_state["param_groups"][0]["params"])):
        entry = {k[len(f"opt.{pid}."):]: v.to(device) for k, v in tensors.items() if k.startswith(f"opt.{pid}.")}
        for k, v in state["optimizer_scalars"].get(str(pid), {}).items():
            entry[k] = torch.tensor(v)
        if entry:
            restored[pid] = entry
    opt_state["state"] = restored
    optimizer.load_state_dict(opt_state)
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    hidden = None
    if "hidden.h" in tensors:
        hidden = (tensors["hidden.h"].to(device), tensors["hidden.c"].to(device))
    return state, hidden


def _lr_at(cfg: TrainConfig, step: int, total_steps: int | None, elapsed: float) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = 0.0
    if total_steps:
        progress = max(progress, step / total_steps)
    if cfg.minutes:
        progress = max(progress, elapsed / (cfg.minutes * 60))
    progress = min(progress, 1.0)
    floor = cfg.lr * cfg.lr_final
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def _append_metrics(path: Path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---- the run -----------------------------------------------------------------------------

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


def _prepare(cfg: TrainConfig, resume: bool, ranks: Dist | None = None):
    """Read the corpus, split it, fit the codec, write run.json; encode. With several processes,
    rank 0 goes first (it parses and writes), the others follow from the parse cache."""
    ranks = ranks or Dist()
    out = Path(cfg.out)
    run_file = out / "run.json"
    if resume:
        if not run_file.exists():
            raise TunesmithError(f"--resume: '{out}' is not a training run (no run.json)")
        run = json.loads(run_file.read_text())
    elif run_file.exists():
        raise TunesmithError(f"'{out}' already holds a training run; pass --resume to continue it or choose another --out")
    if not ranks.agree(True):   # every process has looked before rank 0 writes
        raise TunesmithError("another training process refused to start")
    if ranks.main:
        try:
            prepared = _prepare_here(cfg, resume, out, run if resume else None, ranks)
        except BaseException:
            ranks.agree(False)
            raise
        ranks.agree(True)
        return prepared
    if not ranks.agree(True):
        raise TunesmithError("rank 0 could not prepare the run (its error says why)")
    return _prepare_here(cfg, resume, out, run if resume else None, ranks)


def _prepare_here(cfg: TrainConfig, resume: bool, out: Path, run: dict | None, ranks: Dist):
    run_file = out / "run.json"
    settings = TrainConfig(**run["settings"]) if resume else cfg
    corpus = corpus_mod.load(settings.corpus, settings.format, codec=settings.codec, parts=settings.parts,
                             transpose=settings.transpose)
    corpus_mod.report(corpus)
    corpus_mod.require_pieces(corpus)
    pieces = list(corpus.pieces)
    if resume:
        codec = codec_from_json(run["codec"])
        names = {p.name: i for i, p in enumerate(corpus.pieces)}
        missing = [n for n in run["split"]["train"] + run["split"]["valid"] if n not in names]
        if missing:
            raise TunesmithError(f"--resume: the corpus changed since the run started ({len(missing)} pieces "
                                 f"are gone, e.g. {missing[0]})")
        train_idx = [names[n] for n in run["split"]["train"]]
        valid_idx = [names[n] for n in run["split"]["valid"]]
    else:
        train_idx, valid_idx = data.split(len(corpus.pieces), cfg.valid_fraction, cfg.seed)
    if settings.augment:
        # transposed copies train; validation stays the pieces as they are
        copies = corpus_mod.augment([corpus.pieces[i] for i in train_idx], settings.augment)
        train_idx = train_idx + list(range(len(pieces), len(pieces) + len(copies)))
        pieces += copies
        log.info(f"--augment {settings.augment}: {len(copies)} transposed copies of the training pieces")
    if not resume:
        if corpus.format == "events":
            codec = EventCodec.fit(pieces, chords=cfg.chords, styles=corpus.styles, parts=cfg.parts,
                                   transpose=cfg.transpose)
        else:
            codec = CharCodec.fit(pieces, styles=corpus.styles)
        run = {
            "tunesmith_version": __version__,
            "settings": asdict(cfg),
            "corpus": {"name": corpus.name, "format": corpus.format, "pieces": len(corpus.pieces),
                       "skipped": len(corpus.skipped), "duplicates": corpus.duplicates,
                       "fingerprint": corpus.fingerprint()},
            "codec": codec.to_json(),
            "split": {"train": [corpus.pieces[i].name for i in train_idx if i < len(corpus.pieces)],
                      "valid": [corpus.pieces[i].name for i in valid_idx]},
        }
        if ranks.main:
            out.mkdir(parents=True, exist_ok=True)
            atomic.write_text(run_file, json.dumps(run, indent=1, ensure_ascii=False) + "\n")
    arrays = [codec.encode(p) for p in pieces]
    tokens = data.TokenSet.from_arrays(arrays)
    index = corpus_index(corpus) if settings.copy_index and ranks.main else None
    return out, run, corpus, codec, tokens.subset(train_idx), tokens.subset(valid_idx), index


def corpus_index(corpus: corpus_mod.Corpus):
    """The melodies of the corpus, indexed for the copy guard (text corpora are parsed by music21, cached)."""
    from tunesmith.evaluate.novelty import NoveltyIndex

    if corpus.format == "events":
        melodies = [(p.name, scores.PartEvents.from_json(p.meta["events"]).melody()) for p in corpus.pieces]
    else:
        log.info("reading the corpus's melodies for the copy guard (once; cached after)")
        by_file, _ = scores.read_melodies([Path(f) for f in corpus.files])
        melodies = [item for items in by_file.values() for item in items]
    index = NoveltyIndex.from_pieces([(name, [(p, d) for p, _, d in notes]) for name, notes in melodies])
    log.info(f"copy-guard index: {len(index)} melodies, {index.notes:,} notes")
    return index


def preview(model: LSTMModel, codec: Codec, length: int, device: torch.device, seed: int) -> str:
    from tunesmith.sample import generate
    pieces = generate(model, codec, n=1, temperature=0.8, max_length=length, seed=seed, device=device)
    return pieces[0].text


def train(cfg: TrainConfig, resume: bool = False) -> RunResult:
    cfg.check()
    if resume:
        # the stored settings rule; only the limits given now may extend the run
        limits = {"epochs": cfg.epochs, "steps": cfg.steps, "minutes": cfg.minutes, "device": cfg.device}
    else:
        # paths are recorded absolute, so --resume works from any folder
        cfg.corpus = [s if s in corpus_mod.NAMED else str(Path(s).expanduser().absolute()) for s in cfg.corpus]
    ranks = Dist.from_env(pick_device(cfg.device))
    try:
        return _train(cfg, resume, limits if resume else {}, ranks)
    finally:
        ranks.close()


def _train(cfg: TrainConfig, resume: bool, limits: dict, ranks: Dist) -> RunResult:
    quiet_before = log.is_quiet()
    if not ranks.main:
        log.set_quiet(True)   # one process talks
    try:
        return _run(cfg, resume, limits, ranks)
    finally:
        log.set_quiet(quiet_before)


def _run(cfg: TrainConfig, resume: bool, limits: dict, ranks: Dist) -> RunResult:
    out, run, corpus, codec, train_set, valid_set, index = _prepare(cfg, resume, ranks)
    extra = index.save if index is not None else None
    if resume:
        stored = TrainConfig(**run["settings"])
        for k, v in limits.items():
            if v is not None and (k != "device" or v != "auto"):
                setattr(stored, k, v)
        cfg = stored
    if cfg.epochs is None and cfg.steps is None and cfg.minutes is None:
        cfg.epochs = 20
    device = ranks.device(pick_device(cfg.device))
    if cfg.precision != "fp32" and device.type != "cuda":
        raise TunesmithError(f"--precision {cfg.precision} is mixed precision on a CUDA GPU; on {device} use fp32")
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
    scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
    torch.manual_seed(cfg.seed)
    model_cfg = ModelConfig(codec.vocab_size, cfg.layers, cfg.hidden, cfg.embed, cfg.dropout)
    model = LSTMModel(model_cfg).to(device)
    optimizer = _adam(model, cfg)
    batch_size = min(cfg.batch_size, len(train_set) // ranks.world)
    if batch_size < 1:
        raise TunesmithError(f"{len(train_set)} training pieces cannot feed {ranks.world} processes: "
                             f"each needs at least one")
    per_epoch = data.steps_per_epoch(train_set, batch_size, cfg.seq_len, cfg.seed, ranks.world)
    totals = [x for x in (cfg.steps, cfg.epochs * per_epoch if cfg.epochs else None) if x]
    total_steps = min(totals) if totals else None
    save_every = cfg.save_every or cfg.eval_every
    metrics_path = out / "metrics.jsonl"

    step, epoch, chunk_in_epoch, elapsed_before, best = 0, 0, 0, 0.0, None
    hidden = None
    if resume:
        last = out / "last"
        if not (last / "config.json").exists():
            raise TunesmithError(f"--resume: '{out}' has no checkpoint yet (no last/)")
        loaded = bundle.load(last, device)
        model.load_state_dict(loaded.model.state_dict())
        state, hidden = _load_trainer_state(last, optimizer, device)
        step, epoch, chunk_in_epoch = state["step"], state["epoch"], state["chunk_in_epoch"]
        elapsed_before, best = state["elapsed"], state.get("best")
        if state.get("world", 1) != ranks.world:
            log.warn(f"the run was saved by {state.get('world', 1)} processes and resumes with {ranks.world}: "
                     f"epoch {epoch} starts again from its beginning")
            chunk_in_epoch, hidden = 0, None
        elif hidden is not None:   # this process's rows of the saved state
            rows = hidden[0].size(1) // ranks.world
            hidden = tuple(h[:, ranks.rank * rows:(ranks.rank + 1) * rows].contiguous() for h in hidden)
        log.info(f"resuming {out} at step {step} (epoch {epoch}, {elapsed_before / 60:.1f} min trained)")

    log.info(f"model: {cfg.layers}x{cfg.hidden} LSTM, {model.num_parameters():,} parameters, "
             f"{codec.vocab_size} symbols; {len(train_set)} training / {len(valid_set)} validation pieces, "
             f"{train_set.targets:,} training tokens, {per_epoch} steps per epoch on {device}"
             + (f", {ranks.world} processes ({ranks.backend}), {batch_size} rows each" if ranks.active else "")
             + (f", {cfg.precision} mixed precision" if amp else ""))
    if ranks.active:
        from torch.nn.parallel import DistributedDataParallel

        stepper = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        torch.manual_seed(cfg.seed + 1000 * ranks.rank)   # each process its own dropout masks
    else:
        stepper = model

    def card(extra: dict) -> dict:
        return {"corpus": run["corpus"]["name"], "format": codec.format, "codec": codec.kind,
                "styles": codec.styles, "transpose": cfg.transpose,
                "pieces": run["corpus"]["pieces"], "train_pieces": len(train_set), "valid_pieces": len(valid_set),
                "step": step, "epoch": round(epoch + chunk_in_epoch / max(per_epoch, 1), 3),
                "train_minutes": round((elapsed_before + time.monotonic() - started) / 60, 2),
                "date": time.strftime("%Y-%m-%d %H:%M:%S"), "run": str(out.resolve()), **extra}

    def validate() -> dict:
        result = evaluate_tokens(model, valid_set, device, batch_size) if len(valid_set) else {}
        return result

    def checkpoint(val: dict | None, gather: bool = True) -> None:
        nonlocal best
        state = hidden
        if gather and ranks.active and hidden is not None:   # every process's rows, for an exact resume
            state = (ranks.gather_rows(hidden[0]), ranks.gather_rows(hidden[1]))
        if not ranks.main:
            return
        bits = val.get("bits") if val else None
        improved = bits is not None and (best is None or bits < best["val_bits"])
        if improved:
            best = {"val_bits": bits, "step": step}
        info = card({"val_bits": bits, "val_accuracy": val.get("accuracy") if val else None})
        bundle.save(out / "checkpoints" / f"step-{step:07d}", model, codec, info, extra=extra)
        with atomic.folder(out / "last") as tmp:
            bundle.write_files(tmp, model, codec, info, extra=extra)
            _save_trainer_state(tmp, optimizer, {"step": step, "epoch": epoch, "chunk_in_epoch": chunk_in_epoch,
                                                 "elapsed": elapsed_before + time.monotonic() - started,
                                                 "best": best, "world": ranks.world}, state)
        if improved or not len(valid_set):
            bundle.save(out / "best", model, codec, info, extra=extra)

    started = time.monotonic()
    model.train()
    bar = log.progress(total_steps, "training", unit="step", initial=step)
    window_loss, window_correct, window_tokens, window_start = 0.0, 0, 0, time.monotonic()
    tokens_total, last_val = 0, None
    history = read_metrics(out) if resume else []
    deadline = cfg.minutes * 60 if cfg.minutes else None

    def done() -> bool:
        if cfg.steps is not None and step >= cfg.steps:
            return True
        if cfg.epochs is not None and epoch >= cfg.epochs:
            return True
        # the clock: every process stops at the same step
        return ranks.any(deadline is not None and elapsed_before + time.monotonic() - started >= deadline)

    pin = device.type == "cuda"

    try:
        while not done():
            for c in data.epoch_chunks(train_set, batch_size, cfg.seq_len, cfg.seed, epoch, chunk_in_epoch,
                                       ranks.rank, ranks.world):
                if hidden is not None and c.reset.any():
                    keep = torch.from_numpy(~c.reset).to(device, hidden[0].dtype)[None, :, None]
                    hidden = (hidden[0] * keep, hidden[1] * keep)
                x, y = torch.from_numpy(c.inputs), torch.from_numpy(c.targets)
                if pin:
                    x, y = x.pin_memory(), y.pin_memory()
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                lr = _lr_at(cfg, step, total_steps, elapsed_before + time.monotonic() - started)
                for g in optimizer.param_groups:
                    g["lr"] = lr
                mask = y != data.IGNORE
                n = int(mask.sum())
                with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                    logits, hidden = stepper(x, hidden)
                    # a sum over this process's tokens / their count: a process whose rows have all
                    # ended this step (DDP) contributes zero, not NaN
                    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1),
                                           ignore_index=data.IGNORE, reduction="sum") / max(n, 1)
                hidden = (hidden[0].detach().float(), hidden[1].detach().float())
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                    optimizer.step()
                window_correct += int(((logits.detach().argmax(-1) == y) & mask).sum())
                step += 1
                chunk_in_epoch += 1
                window_loss += loss.item() * n
                window_tokens += n
                tokens_total += n
                bar.update(1)
                stop = done()
                if step % cfg.eval_every == 0 or stop:
                    now = time.monotonic()
                    row = {"step": step, "epoch": round(epoch + chunk_in_epoch / max(per_epoch, 1), 3),
                           "train_bits": window_loss / max(window_tokens, 1) / LN2,
                           "train_accuracy": window_correct / max(window_tokens, 1),
                           "lr": lr, "tokens_per_s": window_tokens / max(now - window_start, 1e-9),
                           "elapsed_s": round(elapsed_before + now - started, 1)}
                    val = validate()
                    if val:
                        row.update(val_bits=val["bits"], val_accuracy=val["accuracy"])
                        last_val = val["bits"]
                    history.append(row)
                    if ranks.main:
                        _append_metrics(metrics_path, row)
                        plot_metrics(history, out / "metrics.png")
                    if step % save_every == 0 or stop:
                        checkpoint(val)
                    bar.set_postfix_str(_postfix(row, cfg, deadline, elapsed_before + now - started))
                    window_loss, window_correct, window_tokens, window_start = 0.0, 0, 0, time.monotonic()
                if stop:
                    break
            else:
                epoch += 1
                chunk_in_epoch = 0
                if ranks.main:
                    text = preview(model, codec, cfg.preview_length, device, seed=cfg.seed + epoch)
                    model.train()
                    log.info(f"--- preview after epoch {epoch} (step {step}) ---\n{_clip_lines(text)}")
                continue
            break
    except KeyboardInterrupt:
        log.warn("interrupted: saving a checkpoint to resume from")
        checkpoint(validate() or None, gather=False)   # the other processes may be gone already
        raise
    finally:
        bar.close()
    if not history or history[-1]["step"] != step:
        val = validate()
        checkpoint(val or None)
    if ranks.active:
        sums = ranks.checksums(model)
        in_sync = all(s == sums[0] for s in sums)
        if ranks.main:
            atomic.write_text(out / "distributed.json", json.dumps(
                {"world": ranks.world, "backend": ranks.backend, "rows_per_process": batch_size,
                 "weights_identical": in_sync, "weight_checksums": sums}, indent=1) + "\n")
        if not in_sync:
            log.warn("the processes ended with different weights: this should not happen, please report it")
    minutes = (elapsed_before + time.monotonic() - started) / 60
    tok_s = tokens_total / max(time.monotonic() - started, 1e-9)
    best_bits = best["val_bits"] if best else None
    log.info(f"done: {step} steps, {minutes:.1f} min, {tok_s:,.0f} tokens/s; "
             f"best validation {best_bits:.3f} bits/token" if best_bits is not None else
             f"done: {step} steps, {minutes:.1f} min (no validation pieces)")
    return RunResult(out, step, epoch + chunk_in_epoch / max(per_epoch, 1), best_bits, last_val,
                     minutes, tok_s, history)


def _postfix(row: dict, cfg: TrainConfig, deadline: float | None, elapsed: float) -> str:
    parts = [f"loss {row['train_bits']:.3f}"]
    if "val_bits" in row:
        parts.append(f"val {row['val_bits']:.3f}")
    parts.append(f"{row['tokens_per_s']:,.0f} tok/s")
    if deadline:
        left = max(0, deadline - elapsed)
        parts.append(f"{int(left // 60)}:{int(left % 60):02d} left")
    return ", ".join(parts)


def _clip_lines(text: str, lines: int = 12) -> str:
    rows = text.split("\n")
    return "\n".join(rows[:lines]) + (f"\n... ({len(rows) - lines} more lines)" if len(rows) > lines else "")


def plot_metrics(history: list[dict], path: Path) -> None:
    """Training and validation bits per token and accuracy over steps, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(steps, [r["train_bits"] for r in history], label="training", marker=".")
    if all("train_accuracy" in r for r in history):
        ax2.plot(steps, [r["train_accuracy"] for r in history], label="training", marker=".")
    val_rows = [r for r in history if "val_bits" in r]
    if val_rows:
        ax1.plot([r["step"] for r in val_rows], [r["val_bits"] for r in val_rows], label="validation", marker=".")
        ax2.plot([r["step"] for r in val_rows], [r["val_accuracy"] for r in val_rows], label="validation", marker=".",
                 color="C1")
    ax1.set_xlabel("step")
    ax1.set_ylabel("bits per token")
    ax1.set_title("loss")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.set_xlabel("step")
    ax2.set_ylabel("next-token accuracy")
    ax2.set_title("accuracy")
    ax2.legend()
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
