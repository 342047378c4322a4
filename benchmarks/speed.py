"""Speed, measured side by side in one run: training, sampling, corpus preparation.

    python benchmarks/speed.py                       # the full table (about 9 minutes on 2 cores)
    python benchmarks/speed.py --model runs/gpu --device cuda
    python benchmarks/speed.py --smoke               # seconds; what CI runs
    python benchmarks/speed.py --json a.json ...     # later: --combine a.json b.json pools their training windows

Prints the machine, then a table of ratios (this vs its baseline, measured in
the same run on the same machine) and absolute figures, and writes it as JSON
with --json. Timings on shared machines are noisy: compare the ratios, and
absolute numbers only within one run.

- training: tokens/s of tunesmith's trainer (its own figure per --window
  steps, validation excluded) vs a plain PyTorch loop — embedding, nn.LSTM,
  dropout, linear, PyTorch's default Adam, gradient clipping — of the same
  shape on the same batches, measured per window the same way; each side
  --repeat runs, interleaved; first windows dropped; medians over windows;
- sampling: n folk tunes with the shipped default model (folk; temperature
  1.0, primer X:1) in one batch vs one at a time (the same sampler with n=1),
  and the latency of a single tune; each side --repeat times, interleaved,
  medians reported; the batch under the grammar vs without it likewise, and
  each round's own ratio beside the medians' (the machine's noise);
- corpus preparation: seconds per file for the ABC and **kern text readers
  and for the score reader (MusicXML and MIDI through music21), parsing cold
  and from the parse cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def machine(device: torch.device) -> dict:
    first: dict[str, str] = {}   # each /proc/cpuinfo field as the first processor gives it
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            first.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    cpu, flags = first.get("model name") or platform.processor() or "", set(first.get("flags", "").split())
    # the vector arithmetic that decides the CPU figures: same-named CPUs differ in it
    isa = [name for name in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if name in flags]
    info = {"cpu": cpu, "cores": os.cpu_count(), "vector": " ".join(isa) or "unknown",
            "torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


# ---- training ----------------------------------------------------------------------------

def plain_loop(tokens, vocab: int, shape: dict, steps: int, device: torch.device, window: int) -> list[float]:
    """Tokens/s of a bare PyTorch loop on the trainer's own batches, per window of steps as the
    trainer measures itself. The same model: embedding, nn.LSTM (dropout between layers),
    dropout on its output, linear head; PyTorch's default Adam."""
    from tunesmith import data

    torch.manual_seed(0)
    embed = torch.nn.Embedding(vocab, shape["embed"]).to(device)
    lstm = torch.nn.LSTM(shape["embed"], shape["hidden"], shape["layers"], batch_first=True,
                         dropout=shape["dropout"]).to(device)
    head = torch.nn.Linear(shape["hidden"], vocab).to(device)
    drop = torch.nn.Dropout(shape["dropout"])   # on the LSTM's output, as in the model
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)
    batches = []
    epoch = 0
    while len(batches) < steps:
        batches += list(data.epoch_chunks(tokens, shape["batch_size"], shape["seq_len"], 1, epoch))
        epoch += 1
    hidden = None
    rates, counted, started = [], 0, time.perf_counter()
    for step, c in enumerate(batches[:steps], 1):
        x = torch.from_numpy(c.inputs).to(device)
        y = torch.from_numpy(c.targets).to(device)
        out, hidden = lstm(embed(x), hidden)
        hidden = (hidden[0].detach(), hidden[1].detach())
        logits = head(drop(out))
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1), ignore_index=data.IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        counted += int((y != data.IGNORE).sum())
        if step % window == 0:
            if device.type == "cuda":
                torch.cuda.synchronize()
            rates.append(counted / (time.perf_counter() - started))
            counted, started = 0, time.perf_counter()
    return rates


def bench_training(corpus: list[str], shape: dict, steps: int, device: torch.device, repeat: int,
                   window: int) -> dict:
    """Both sides `repeat` times, interleaved so they see the same machine. Each measures tokens/s
    per window of steps (the trainer its own figure between validations); the first window of a
    run (warm-up) is dropped on both sides, and the table compares the medians over all windows,
    which a passing slowdown of a shared machine moves less than whole-run averages."""
    from tunesmith import log
    from tunesmith.train import TrainConfig, _prepare, train

    trainer, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        log.set_quiet(True)
        try:
            prepared = _prepare(
                TrainConfig(corpus=corpus, out=f"{tmp}/probe", copy_index=False, valid_fraction=0.05, **shape),
                resume=False)
            codec, train_set = prepared.codec, prepared.train_set
            for r in range(repeat):
                cfg = TrainConfig(corpus=corpus, out=f"{tmp}/run-{r}", steps=steps, eval_every=window,
                                  preview_length=1, device=str(device), copy_index=False, valid_fraction=0.05,
                                  **shape)
                trainer += [row["tokens_per_s"] for row in train(cfg).history[1:]]
                plain += plain_loop(train_set, codec.vocab_size, shape, steps, device, window)[1:]
        finally:
            log.set_quiet(False)
    return {**training_ratio(trainer, plain), "steps": steps, "window": window, "repeat": repeat, "shape": shape,
            "windows": {"trainer": [round(x) for x in trainer], "plain": [round(x) for x in plain]}}


def training_ratio(trainer: list[float], plain: list[float], resamples: int = 2000) -> dict:
    """The two sides' median tokens/s per window, their ratio, and a 95% interval for the ratio by
    bootstrap (windows resampled with replacement; it treats windows as independent, which
    neighbouring windows of one run are not quite, so the interval is on the narrow side)."""
    import random

    draw = random.Random(0)
    ratios = sorted(statistics.median(draw.choices(trainer, k=len(trainer)))
                    / statistics.median(draw.choices(plain, k=len(plain))) for _ in range(resamples))
    trainer_rate, plain_rate = statistics.median(trainer), statistics.median(plain)
    return {"trainer_tokens_per_s": round(trainer_rate), "plain_tokens_per_s": round(plain_rate),
            "ratio": round(trainer_rate / plain_rate, 3),
            "ratio_95": [round(ratios[int(0.025 * resamples)], 3), round(ratios[int(0.975 * resamples) - 1], 3)]}


def combine(paths: list[str]) -> int:
    """Pool the training windows of runs saved with --json (same machine and shape) into one ratio."""
    trainer, plain, shapes = [], [], set()
    for path in paths:
        try:
            run = json.loads(Path(path).read_text())["training"]
            ours, theirs = [float(x) for x in run["windows"]["trainer"]], [float(x) for x in run["windows"]["plain"]]
            shapes.add(json.dumps(run["shape"], sort_keys=True))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SystemExit(f"{path}: not a speed.py --json file with training figures ({e!r})")
        trainer += ours
        plain += theirs
        print(f"{path}: ratio {run.get('ratio')}, {len(ours)} windows per side")
    if len(shapes) > 1:
        raise SystemExit("these runs trained different shapes: pool runs of one shape")
    if not trainer or not plain:
        raise SystemExit("these runs hold no training windows to pool")
    t = training_ratio(trainer, plain)
    print(f"pooled, {len(trainer)} windows per side: trainer {t['trainer_tokens_per_s']:,} vs plain "
          f"{t['plain_tokens_per_s']:,} tokens/s, ratio {t['ratio']:.3f} "
          f"(95% by bootstrap {t['ratio_95'][0]:.3f}–{t['ratio_95'][1]:.3f})")
    return 0


# ---- sampling ----------------------------------------------------------------------------

def bench_sampling(model_path: str | None, corpus: list[str], n: int, device: torch.device,
                   max_length: int, repeat: int) -> dict:
    from tunesmith import bundle, corpus as corpus_mod
    from tunesmith.codecs import CharCodec
    from tunesmith.nets.lstm import LSTMModel, ModelConfig
    from tunesmith.sample import generate

    if model_path:
        loaded = bundle.load(model_path, device)
        model, codec, what = loaded.model, loaded.codec, str(loaded.path)
    else:   # an untrained default-shape model: the same work per token, every tune runs to max_length
        pieces = corpus_mod.load(corpus, show_progress=False).pieces
        codec = CharCodec.fit(pieces)
        torch.manual_seed(0)
        model = LSTMModel(ModelConfig(codec.vocab_size)).to(device).eval()
        what = "untrained 3x256 (default shape)"
    from tunesmith.nets.lstm import cpu_has_bf16

    options = dict(temperature=1.0, primer="X:1\n", max_length=max_length, device=device, precision="auto")

    def seconds(run):
        started = time.perf_counter()
        result = run()
        return time.perf_counter() - started, result

    generate(model, codec, n=2, seed=0, **{**options, "max_length": 50})   # warm-up
    # auto precision is bf16 only on CPUs with bfloat16 arithmetic; elsewhere it is fp32 itself
    precision = "bf16" if device.type == "cpu" and cpu_has_bf16() else "fp32"
    # each side `repeat` times with the same seeds, interleaved so both see the same machine; medians
    runs = {"batched": [], "sequential": [], "latency": [], "fp32": [], "unconstrained": []}
    def cold(**more):
        """A batch under the grammar as one `tunesmith sample` sees it: no grammar state worked out yet
        (a repeat with the same seed would otherwise replay states the first run numbered). The store
        of the runs before is let go before the clock starts: freeing it is no part of the batch."""
        getattr(codec, "_grammar_caches", {}).clear()
        return seconds(lambda: generate(model, codec, n=n, seed=1, **{**options, **more}))

    for _ in range(repeat):
        batched_s, batched = cold()
        sequential_s, single = seconds(lambda: [generate(model, codec, n=1, seed=100 + i, **options)[0]
                                                for i in range(n)])
        latency, _ = seconds(lambda: generate(model, codec, n=1, seed=7, **options))
        for key, value in zip(runs, (batched_s, sequential_s, latency)):
            runs[key].append(value)
        # the same batch without the format's grammar (the decoding constraint), in the same round
        free_s, free = seconds(lambda: generate(model, codec, n=n, seed=1, constrain=False, **options))
        runs["unconstrained"].append(free_s)
        if precision == "bf16":   # elsewhere auto is fp32 already
            runs["fp32"].append(cold(precision="fp32")[0])
    # the same model in a long session (the web app): the grammar's store kept, a new seed
    warm_s, warm = seconds(lambda: generate(model, codec, n=n, seed=2, **options))
    warm_free_s, warm_free = seconds(lambda: generate(model, codec, n=n, seed=2, constrain=False, **options))
    batched_s, sequential_s, latency = (statistics.median(runs[k]) for k in ("batched", "sequential", "latency"))
    plain_tokens, plain_s = plain_sampling(model, codec, min(n, 20), max_length, device)
    chars_b = sum(len(p.ids) for p in batched)
    chars_s = sum(len(p.ids) for p in single)
    chars_free = sum(len(p.ids) for p in free)
    free_tps = chars_free / statistics.median(runs["unconstrained"])
    # each round's own ratio (its two batches ran one after the other): how far the machine moved it
    rounds = [(chars_b / b) / (chars_free / f) for b, f in zip(runs["batched"], runs["unconstrained"])]
    return {"model": what, "pieces": n, "repeat": repeat, "precision": precision,
            "batched_fp32_tokens_per_s": round(chars_b / statistics.median(runs["fp32"])) if runs["fp32"] else None,
            "batched_seconds": round(batched_s, 2),
            "sequential_seconds": round(sequential_s, 2), "ratio_wall": round(sequential_s / batched_s, 1),
            "batched_tokens_per_s": round(chars_b / batched_s), "sequential_tokens_per_s": round(chars_s / sequential_s),
            "ratio_tokens_per_s": round((chars_b / batched_s) / (chars_s / sequential_s), 1),
            "single_tune_seconds": round(latency, 3),
            "plain_loop_tokens_per_s": round(plain_tokens / plain_s),
            "ratio_vs_plain_loop": round((chars_b / batched_s) / (plain_tokens / plain_s), 1),
            "mean_tokens_per_piece": round(chars_b / n),
            # batched sampling is under the grammar where the codec has one: its cost against none
            "unconstrained_tokens_per_s": round(free_tps),
            "constrained_vs_unconstrained": round((chars_b / batched_s) / free_tps, 2),
            "constrained_vs_unconstrained_rounds": [round(r, 2) for r in rounds],
            "warm_constrained_vs_unconstrained": round((sum(len(p.ids) for p in warm) / warm_s)
                                                       / (sum(len(p.ids) for p in warm_free) / warm_free_s), 2)}


@torch.inference_mode()
def plain_sampling(model, codec, tunes: int, max_length: int, device: torch.device) -> tuple[int, float]:
    """The char-rnn way: one tune at a time, nn.LSTM called on each token, softmax, multinomial."""
    generator = torch.Generator(device=device)
    generator.manual_seed(3)
    total, started = 0, time.perf_counter()
    for _ in range(tunes):
        ids = torch.as_tensor(codec.encode_primer("X:1\n"), dtype=torch.long, device=device)[None, :]
        logits, state = model(ids)
        for _ in range(max_length):
            probs = torch.softmax(logits[0, -1], -1)
            token = torch.multinomial(probs, 1, generator=generator)
            total += 1
            if int(token) == codec.EOS:
                break
            logits, state = model(token[None, :], state)
    return total, time.perf_counter() - started


# ---- corpus preparation ------------------------------------------------------------------

def bench_reading(limit: int) -> dict:
    from music21 import converter, corpus as m21corpus

    from tunesmith import corpus as corpus_mod
    from tunesmith.notation import scores

    out = {}
    for name, spec in (("abc text", SHARED / "nottingham-abc"), ("kern text", SHARED / "mozart-kern")):
        if spec.exists():
            files = sorted(p for p in spec.iterdir() if corpus_mod.format_of(p))
            started = time.perf_counter()
            corpus_mod.load(str(spec), show_progress=False)
            out[name] = {"files": len(files), "seconds_per_file": round((time.perf_counter() - started) / len(files), 4)}
    chorales = [p for p in m21corpus.getComposer("bach") if p.suffix == ".mxl"][:limit]
    with tempfile.TemporaryDirectory() as tmp:
        midi = []
        for p in chorales:   # MIDI files from the chorales (not timed)
            target = Path(tmp) / f"{p.stem}.mid"
            converter.parse(p).write("midi", fp=str(target))
            midi.append(target)
        for name, files in (("musicxml events", chorales), ("midi events", midi)):
            os.environ["TUNESMITH_CACHE"] = f"{tmp}/cache-{name.split()[0]}"
            started = time.perf_counter()
            scores.read_files(files, scores.ReaderSettings(), show_progress=False)
            cold = time.perf_counter() - started
            started = time.perf_counter()
            again = scores.read_files(files, scores.ReaderSettings(), show_progress=False)
            warm = time.perf_counter() - started
            assert again.parsed == 0
            out[name] = {"files": len(files), "cold_seconds_per_file": round(cold / len(files), 4),
                         "cached_seconds_per_file": round(warm / len(files), 5),
                         "cache_speedup": round(cold / warm, 1)}
        shutil.rmtree(tmp, ignore_errors=True)
    os.environ.pop("TUNESMITH_CACHE", None)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="folk",
                    help="the folk model for the sampling figures: a name or folder (default: folk, the shipped "
                         "default model); 'untrained' for an untrained default-shape model")
    ap.add_argument("--corpus", nargs="+", help="training corpus (default: ../shared/data/nottingham-abc, else oneills)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=200, help="training steps timed per side and run")
    ap.add_argument("--window", type=int, default=20, help="training steps per measured window")
    ap.add_argument("--layers", type=int, default=3, help="model shape for the training figures (default 3x256)")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("-n", type=int, default=100, help="tunes for the sampling figures")
    ap.add_argument("--max-length", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=5, help="training and sampling runs per side, interleaved; "
                                                          "the table gives medians")
    ap.add_argument("--smoke", action="store_true", help="a seconds-long run with tiny sizes")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: training,sampling,reading")
    ap.add_argument("--combine", nargs="+", metavar="JSON",
                    help="measure nothing: pool the training windows of earlier --json runs into one ratio")
    args = ap.parse_args()
    if args.combine:
        return combine(args.combine)

    device = torch.device(args.device)
    corpus = args.corpus or ([str(SHARED / "nottingham-abc")] if (SHARED / "nottingham-abc").exists() else ["oneills"])
    shape = dict(layers=args.layers, hidden=args.hidden, embed=64, dropout=0.3, batch_size=16, seq_len=128)
    steps, window, n, max_length, limit, repeat = args.steps, args.window, args.n, args.max_length, 40, args.repeat
    model = None if args.model == "untrained" else args.model
    if args.smoke:
        shape = dict(layers=1, hidden=32, embed=16, dropout=0.0, batch_size=4, seq_len=32)
        steps, window, n, max_length, limit, repeat, model = 10, 5, 4, 60, 2, 1, None
    skip = set(filter(None, args.skip.split(",")))
    results: dict = {"machine": machine(device)}
    if "training" not in skip:
        results["training"] = bench_training(corpus, shape, steps, device, repeat, window)
    if "sampling" not in skip:
        results["sampling"] = bench_sampling(model, corpus, n, device, max_length, repeat)
    if "reading" not in skip:
        results["reading"] = bench_reading(limit)

    m = results["machine"]
    print(f"machine: {m['cpu']} ({m['vector']}), {m['cores']} cores, torch {m['torch']} ({m['threads']} threads), {m['device']}"
          + (f", {m['gpu']}" if "gpu" in m else ""))
    print(f"\n{'measure':<58} {'this':>12} {'baseline':>12} {'ratio':>7}")
    if "training" in results:
        t = results["training"]
        print(f"{'training tokens/s: trainer vs plain nn.LSTM loop':<58} {t['trainer_tokens_per_s']:>12,} "
              f"{t['plain_tokens_per_s']:>12,} {t['ratio']:>7.2f}")
        print(f"{'  the ratio, 95% by bootstrap over windows':<58} {'':>25} "
              f"{t['ratio_95'][0]:.2f}–{t['ratio_95'][1]:.2f}")
    if "sampling" in results:
        s = results["sampling"]
        print(f"sampling precision (auto): {s['precision']}"
              + ("" if s["precision"] == "bf16" else " (no bfloat16 arithmetic here: auto is fp32)"))
        label = f"sampling {s['pieces']} tunes, seconds: batched vs one at a time"
        print(f"{label:<58} {s['batched_seconds']:>12} {s['sequential_seconds']:>12} {s['ratio_wall']:>7.1f}")
        print(f"{'sampling tokens/s: batched vs one at a time':<58} {s['batched_tokens_per_s']:>12,} "
              f"{s['sequential_tokens_per_s']:>12,} {s['ratio_tokens_per_s']:>7.1f}")
        print(f"{'sampling tokens/s: batched vs a plain nn.LSTM loop, 1 tune':<58} {s['batched_tokens_per_s']:>12,} "
              f"{s['plain_loop_tokens_per_s']:>12,} {s['ratio_vs_plain_loop']:>7.1f}")
        print(f"{'sampling tokens/s, batched: with the grammar vs without':<58} {s['batched_tokens_per_s']:>12,} "
              f"{s['unconstrained_tokens_per_s']:>12,} {s['constrained_vs_unconstrained']:>7.2f}")
        if len(s.get("constrained_vs_unconstrained_rounds") or []) > 1:
            spread = s["constrained_vs_unconstrained_rounds"]
            print(f"{'  the same, each round alone (lowest to highest)':<58} {'':>25} "
                  f"{min(spread):.2f}–{max(spread):.2f}")
        if s.get("warm_constrained_vs_unconstrained") is not None:
            print(f"{'  the same, the grammar states of earlier batches kept (a session)':<58} {'':>25} "
                  f"{s['warm_constrained_vs_unconstrained']:>7.2f}")
        if s["batched_fp32_tokens_per_s"]:
            print(f"{'sampling tokens/s, batched: auto precision vs fp32':<58} {s['batched_tokens_per_s']:>12,} "
                  f"{s['batched_fp32_tokens_per_s']:>12,} "
                  f"{s['batched_tokens_per_s'] / s['batched_fp32_tokens_per_s']:>7.1f}")
        print(f"{'single tune latency, seconds':<58} {s['single_tune_seconds']:>12}")
    if "reading" in results:
        for name, r in results["reading"].items():
            if "cold_seconds_per_file" in r:
                label = f"{name}: s/file, from the cache vs cold ({r['files']} files)"
                print(f"{label:<58} {r['cached_seconds_per_file']:>12} {r['cold_seconds_per_file']:>12} "
                      f"{r['cache_speedup']:>7.1f}")
            else:
                label = f"{name} reader: s/file ({r['files']} files)"
                print(f"{label:<58} {r['seconds_per_file']:>12}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
