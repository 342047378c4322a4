"""The run folder: preparing a run (corpus, split, codec, run.json, encoded pieces), the trainer
state a run resumes from, and the metrics log.

The trainer state (last/trainer.safetensors and last/trainer.json) holds the
optimiser's moments, the random generators and the model state carried
between chunks. That state is a tuple of tensors with the batch on dimension
1, whatever the model type: it is saved as `hidden.0`, `hidden.1`, ...; a run
saved before model types existed named an LSTM's `hidden.h` and `hidden.c`,
which load as the same tuple.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, replace
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors.torch import load_file, save_file

from tunesmith import TunesmithError, __version__, atomic, data, log
from tunesmith import corpus as corpus_mod
from tunesmith.codecs import CODECS, Codec, codec_from_json
from tunesmith.distributed import Dist
from tunesmith.evaluate.novelty import NoveltyIndex
from tunesmith.evaluate.texture import TextureGuard
from tunesmith.nets import State
from tunesmith.train import claim
from tunesmith.train.config import TrainConfig

TRAINER_TENSORS = "trainer.safetensors"
TRAINER_JSON = "trainer.json"
OLD_STATE_NAMES = ("hidden.h", "hidden.c")   # an LSTM's (h, c), as runs saved them before model types


class Prepared(NamedTuple):
    """A run ready to train: its folder, run.json, the corpus, the codec, the encoded pieces and the
    copy-guard indexes: melodies and, for voices on a grid, textures (None when not kept, and on every
    process but rank 0)."""

    out: Path
    run: dict
    corpus: corpus_mod.Corpus
    codec: Codec
    train_set: data.TokenSet
    valid_set: data.TokenSet
    index: NoveltyIndex | None
    texture: TextureGuard | None = None


# ---- preparing a run ---------------------------------------------------------------------

def prepare(cfg: TrainConfig, resume: bool, ranks: Dist | None = None, overwrite: bool = False) -> Prepared:
    """Claim the run folder (`claim.claim`: a new run, a resumed one, or one started again), read the
    corpus, split it, fit the codec, write run.json; encode. With several processes, rank 0 goes first
    (it decides, parses and writes), the others follow from the parse cache."""
    ranks = ranks or Dist()
    out = Path(cfg.out)
    if ranks.main:
        try:
            claim.claim(out, resume, overwrite, main=True)
        except BaseException:
            ranks.agree(False)
            raise
    if not ranks.agree(True):   # rank 0 has claimed the folder before the others look at it
        raise TunesmithError("another training process refused to start")
    if not ranks.main:
        claim.claim(out, resume, overwrite, main=False)
    run = read_run(out) if resume else None
    if ranks.main:
        try:
            prepared = _prepare_here(cfg, resume, out, run, ranks)
        except BaseException:
            ranks.agree(False)
            raise
        ranks.agree(True)
        return prepared
    if not ranks.agree(True):
        raise TunesmithError("rank 0 could not prepare the run (its error says why)")
    return _prepare_here(cfg, resume, out, run, ranks)


def read_run(out: Path) -> dict:
    """run.json, or one sentence saying why it cannot be read."""
    try:
        run = json.loads((out / "run.json").read_text(encoding="utf-8"))
        TrainConfig.saved(run["settings"])
        _ = run["codec"], run["split"]["train"], run["split"]["valid"]
    except (OSError, ValueError, KeyError, TypeError, TunesmithError) as exc:
        raise TunesmithError(f"{out / 'run.json'} is damaged ({type(exc).__name__}: {exc}); start the run again "
                             f"with --overwrite") from None
    return run


def _prepare_here(cfg: TrainConfig, resume: bool, out: Path, run: dict | None, ranks: Dist) -> Prepared:
    settings = TrainConfig.saved(run["settings"]) if resume else cfg
    corpus = corpus_mod.load(settings.corpus, options=settings)
    held = _held_split(settings, corpus)
    saved = corpus_mod.write_skipped(corpus, out) if ranks.main else None
    corpus_mod.report(corpus, saved)
    corpus_mod.require_pieces(corpus)
    pieces = list(corpus.pieces)
    if resume:
        codec = codec_from_json(run["codec"])
        _same_books(cfg, settings)
        train_idx, valid_idx = _stored_split(run, corpus)
        if run["split"].get("valid_books"):
            log.info(f"validation: the {len(valid_idx)} pieces of the held-out books {run['split']['valid_books']}")
    else:
        train_idx, valid_idx, books = _new_split(cfg, corpus, held)
    if settings.augment:
        # transposed copies train; validation stays the pieces as they are
        copies = corpus_mod.augment(corpus, [corpus.pieces[i] for i in train_idx], settings.augment)
        train_idx = train_idx + list(range(len(pieces), len(pieces) + len(copies)))
        pieces += copies
        log.info(f"--augment {settings.augment}: {len(copies)} transposed copies of the training pieces")
    if not resume:
        codec = CODECS[corpus.codec].fit(pieces, cfg, corpus.styles)
        run = _run_record(cfg, corpus, codec, train_idx, valid_idx, books)
        if ranks.main:
            atomic.write_text(out / "run.json", json.dumps(run, indent=1, ensure_ascii=False) + "\n")
    arrays = [codec.encode(p) for p in pieces]
    tokens = data.TokenSet.from_arrays(arrays)
    index = corpus_index(corpus) if settings.copy_index and ranks.main else None
    texture = texture_guard(corpus) if settings.copy_index and ranks.main else None
    return Prepared(out, run, corpus, codec, tokens.subset(train_idx), tokens.subset(valid_idx), index, texture)


def _held_split(settings: TrainConfig, corpus: corpus_mod.Corpus) -> int:
    """With --valid-split, the pieces of that split of the same roll files are appended to the corpus
    (named path#split/n, so a resumed run finds them again); how many, else 0."""
    if not settings.valid_split:
        return 0
    if not settings.split:
        raise TunesmithError("--valid-split names a split of roll JSON files, beside --split for the one that "
                             "trains; other corpora validate on --valid-fraction or --valid-books")
    if settings.valid_split == settings.split:
        raise TunesmithError(f"--valid-split {settings.valid_split} is the split the model trains on (--split)")
    held = corpus_mod.load(settings.corpus, options=replace(settings, split=settings.valid_split))
    corpus_mod.require_pieces(held)
    if {p.name for p in held.pieces} & {p.name for p in corpus.pieces}:
        raise TunesmithError(f"--valid-split {settings.valid_split} read the same pieces as --split {settings.split}: "
                             f"this corpus has no splits to choose from")
    corpus.pieces.extend(held.pieces)
    log.info(f"--valid-split {settings.valid_split}: its {len(held.pieces)} pieces validate, every piece of "
             f"--split {settings.split} trains")
    return len(held.pieces)


def _new_split(cfg: TrainConfig, corpus: corpus_mod.Corpus, held: int = 0
               ) -> tuple[list[int], list[int], list[str] | None]:
    """(training pieces, validation pieces, the held-out files or None): the appended pieces of
    --valid-split, whole files with --valid-books, else a seeded random --valid-fraction."""
    if held:
        n = len(corpus.pieces)
        return list(range(n - held)), list(range(n - held, n)), None
    if not cfg.valid_books:
        return *data.split(len(corpus.pieces), cfg.valid_fraction, cfg.seed), None
    books = data.match_books(cfg.valid_books, corpus.files)
    train_idx, valid_idx = data.split_books([p.name for p in corpus.pieces], corpus.files, books)
    log.info(f"--valid-books: {len(valid_idx)} pieces of {len(books)} held-out file{'s' * (len(books) > 1)} "
             f"validate, {len(train_idx)} pieces of the other files train")
    return train_idx, valid_idx, books


def _same_books(given: TrainConfig, stored: TrainConfig) -> None:
    """A resumed run keeps its split: --valid-books given now must be the run's own."""
    if given.valid_books and given.valid_books != stored.valid_books:
        held = " ".join(stored.valid_books) if stored.valid_books else "none (a random share of pieces)"
        raise TunesmithError(f"--resume keeps the run's validation split (held-out books: {held}); "
                             f"start a new run to hold out other books")


def _stored_split(run: dict, corpus: corpus_mod.Corpus) -> tuple[list[int], list[int]]:
    """The training and validation pieces run.json names, as indices into the corpus read again."""
    names = {p.name: i for i, p in enumerate(corpus.pieces)}
    missing = [n for n in run["split"]["train"] + run["split"]["valid"] if n not in names]
    if missing:
        raise TunesmithError(f"--resume: the corpus changed since the run started ({len(missing)} pieces "
                             f"are gone, e.g. {missing[0]})")
    return [names[n] for n in run["split"]["train"]], [names[n] for n in run["split"]["valid"]]


def _run_record(cfg: TrainConfig, corpus: corpus_mod.Corpus, codec: Codec, train_idx: list[int],
                valid_idx: list[int], books: list[str] | None = None) -> dict:
    """run.json: the version, the settings, the corpus, the codec and the split (augmented copies
    are left out: they are made again), with the held-out files where validation is by book."""
    split = {"train": [corpus.pieces[i].name for i in train_idx if i < len(corpus.pieces)],
             "valid": [corpus.pieces[i].name for i in valid_idx]}
    if books:
        split["valid_books"] = books
    return {
        "tunesmith_version": __version__,
        "settings": asdict(cfg),
        "corpus": {"name": corpus.name, "format": corpus.format, "pieces": len(corpus.pieces),
                   "skipped": len(corpus.skipped), "duplicates": corpus.duplicates,
                   "fingerprint": corpus.fingerprint()},
        "codec": codec.to_json(),
        "split": split,
    }


def corpus_index(corpus: corpus_mod.Corpus) -> NoveltyIndex | None:
    """The melodies of the corpus, indexed for the copy guard, as its codec reads them (text corpora are
    parsed by music21, cached); None where the codec has no melodies."""
    melodies = CODECS[corpus.codec].melodies(corpus.pieces, corpus.files)
    if melodies is None:
        log.info("no copy-guard index: this representation has no melodies to compare")
        return None
    index = NoveltyIndex.from_pieces([(name, [(p, d) for p, _, d in notes]) for name, notes in melodies])
    log.info(f"copy-guard index: {len(index)} melodies, {index.notes:,} notes")
    return index


def texture_guard(corpus: corpus_mod.Corpus) -> TextureGuard | None:
    """The corpus's textures (every voice) hashed for the copy guard on whole passages, where its
    codec has voices on a time grid; else None."""
    guard = CODECS[corpus.codec].texture_guard(corpus.pieces)
    if guard is not None:
        log.info(f"texture copy guard: {len(guard):,} runs of {guard.length} steps")
    return guard


# ---- the trainer state -------------------------------------------------------------------

def save_trainer_state(folder: Path, optimizer: torch.optim.Optimizer, progress: dict,
                       state: State | None) -> None:
    """The optimiser, the random generators and the model state (any number of tensors) beside a
    checkpoint; `progress` (step, epoch, ...) goes to trainer.json."""
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    for i, s in enumerate(state or ()):
        tensors[f"hidden.{i}"] = s.detach().cpu().contiguous()
    scalars: dict[str, dict] = {}
    for pid, pstate in optimizer.state_dict()["state"].items():
        for k, v in pstate.items():
            if torch.is_tensor(v) and v.dim() > 0:
                tensors[f"opt.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[k] = float(v)
    save_file(tensors, str(folder / TRAINER_TENSORS))
    (folder / TRAINER_JSON).write_text(json.dumps({**progress, "optimizer_scalars": scalars}, indent=2))


def load_trainer_state(folder: Path, optimizer: torch.optim.Optimizer,
                       device: torch.device) -> tuple[dict, State | None]:
    """Restore the optimiser and the random generators; → (trainer.json, the saved model state or None)."""
    try:
        tensors = load_file(str(folder / TRAINER_TENSORS))
        progress = json.loads((folder / TRAINER_JSON).read_text())
    except FileNotFoundError:
        raise TunesmithError(f"{folder} has no trainer state to resume from") from None
    except Exception as exc:
        raise TunesmithError(f"the trainer state in {folder} is corrupt ({exc})") from None
    _load_optimizer(optimizer, tensors, progress["optimizer_scalars"], device)
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    state = _state_of(tensors)
    return progress, None if state is None else tuple(s.to(device) for s in state)


def _load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], scalars: dict,
                    device: torch.device) -> None:
    opt_state = optimizer.state_dict()
    restored = {}
    for pid in range(len(opt_state["param_groups"][0]["params"])):
        entry = {k[len(f"opt.{pid}."):]: v.to(device) for k, v in tensors.items() if k.startswith(f"opt.{pid}.")}
        for k, v in scalars.get(str(pid), {}).items():
            entry[k] = torch.tensor(v)
        if entry:
            restored[pid] = entry
    opt_state["state"] = restored
    optimizer.load_state_dict(opt_state)


def _state_of(tensors: dict[str, torch.Tensor]) -> State | None:
    """The saved model state: hidden.0, hidden.1, ... in order, or an old run's hidden.h and hidden.c."""
    numbered = sorted((int(m.group(1)), k) for k in tensors if (m := re.fullmatch(r"hidden\.(\d+)", k)))
    if numbered:
        return tuple(tensors[k] for _, k in numbered)
    if all(k in tensors for k in OLD_STATE_NAMES):
        return tuple(tensors[k] for k in OLD_STATE_NAMES)
    return None


# ---- metrics -----------------------------------------------------------------------------

METRICS = "metrics.jsonl"


def append_metrics(path: Path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def _rows(path: Path) -> tuple[list[dict], int]:
    """The rows of a metrics file and how many lines were not rows (a line torn by a kill)."""
    rows, torn = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
        else:
            torn += 1
    return rows, torn


def read_metrics(run_dir: str | Path) -> list[dict]:
    """metrics.jsonl's rows; a line that is not one (the last, torn when a run was killed while
    writing it) is left out with a warning."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    rows, torn = _rows(path)
    if torn:
        log.warn(f"{path}: {torn} torn line{'s' if torn > 1 else ''} left out (the run was stopped while writing)")
    return rows


def trim_metrics(run_dir: Path, step: int, write: bool = True) -> list[dict]:
    """The rows up to `step` (the checkpoint a run resumes from): rows written after it, by a run
    stopped before its next checkpoint, and torn lines are dropped, and with `write` the file is
    rewritten atomically without them, so every step appears once, in order."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    rows, torn = _rows(path)
    kept = [r for r in rows if r["step"] <= step]
    if (torn or len(kept) < len(rows)) and write:
        atomic.write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
        log.warn(f"{path}: dropped {len(rows) - len(kept)} rows after step {step}, the checkpoint the run resumes "
                 f"from" + (f", and {torn} torn line{'s' if torn > 1 else ''}" if torn else ""))
    return kept
