"""The speed benchmark's seconds-long smoke version runs and prints its table; runs pool."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_speed_benchmark_smoke(tmp_path):
    out = tmp_path / "speed.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--smoke", "--json", str(out)],
                          capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "TUNESMITH_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trainer vs plain nn.LSTM loop" in done.stdout and "batched vs one at a time" in done.stdout
    results = json.loads(out.read_text())
    assert results["training"]["ratio"] > 0 and results["sampling"]["ratio_wall"] > 0
    rounds = results["sampling"]["constrained_vs_unconstrained_rounds"]
    assert len(rounds) == results["sampling"]["repeat"] and all(r > 0 for r in rounds)
    assert results["reading"]["midi events"]["cache_speedup"] > 1
    low, high = results["training"]["ratio_95"]
    assert low <= results["training"]["ratio"] <= high
    assert results["machine"]["vector"]

    # --combine pools saved runs' training windows and measures nothing
    pooled = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--combine", str(out), str(out)],
                            capture_output=True, text=True, timeout=120)
    assert pooled.returncode == 0, pooled.stderr[-3000:]
    windows = len(results["training"]["windows"]["trainer"])
    assert f"pooled, {2 * windows} windows per side" in pooled.stdout
    assert f"ratio {results['training']['ratio']:.3f}" in pooled.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    refused = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--combine", str(broken)],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "not a speed.py --json file" in refused.stderr


def test_cpu_dropout_benchmark_smoke():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cpu_dropout.py"), "--smoke"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("training tokens/s: by-layer masks"))
    this, baseline, ratio = (float(v.replace(",", "")) for v in line.split()[-3:])
    assert this > 0 and baseline > 0 and ratio > 0
    interval = next(x for x in done.stdout.splitlines() if "95% by bootstrap over blocks" in x).split()[-1]
    low, high = (float(v) for v in interval.split("–"))
    assert 0 < low <= high
    mask_line = next(x for x in done.stdout.splitlines() if x.startswith("one mask, ms: dropout_mask vs bernoulli_"))
    assert all(float(v) > 0 for v in mask_line.split()[-3:])


def test_sampling_bound_smoke():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sampling_bound.py"), "--smoke"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seconds = {}
    for line in done.stdout.splitlines()[3:-1]:
        label, value = line.rsplit(None, 1)
        seconds[label.strip()] = float(value)
    wall, steps = seconds["the batch (wall)"], seconds["its steps"]
    assert 0 < steps < wall and 0 <= seconds["of which steps with at most a tenth of the rows"] <= steps
    assert abs(seconds["the rest (picking, stopping, bookkeeping)"] - (wall - steps)) < 2e-3
    measured, ceiling = (float(x) for x in done.stdout.split("ratio batched / one at a time: ")[1]
                         .replace(" measured; ", " ").split(" if")[0].split())
    assert 0 < measured <= ceiling


def test_the_token_vocabulary_of_the_experiment_reads_and_samples_like_characters():
    """benchmarks/token_vocab.py: a tune's tokens give its text back, fewer ids than characters, and the
    grammar steps a token's characters, accepting what the character codec's grammar accepts."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import token_vocab
    finally:
        sys.path.pop(0)
    from tunesmith.codecs.base import CODECS, CodecOptions, Piece, codec_from_json

    tunes = [f"X:1\nT:Tune {i}\nR:reel\nM:4/4\nL:1/8\nK:D\n|:\"D\"dcBA ^c'2d2|[1 (3Bcd e2 f4:|[2 f2e2 d4|]\n"
             for i in range(4)]
    pieces = [Piece(f"t{i}", t, "abc") for i, t in enumerate(tunes)]
    codec = token_vocab.AbcTokenCodec.fit(pieces, CodecOptions(unk_min_count=1))
    assert {"M:4/4\n", "|:", "^c'", "(3", '"D"', "[1"} <= set(codec.symbols)
    again = codec_from_json(codec.to_json())
    rule = again.constraint()
    for piece in pieces:
        ids = again.encode(piece)
        assert again.decode(ids) == piece.text and len(ids) < len(piece.text)
        assert rule.accepts(ids.tolist()) is None
    # a tune that breaks its bar is refused inside the token that breaks it, as characters would be
    broken = again.encode(Piece("b", tunes[0].replace("dcBA ", "dcBA4 "), "abc")).tolist()
    assert rule.accepts(broken) is not None
    CODECS.pop("abc-tokens")     # (the experiment's codec is known only while it runs)


def test_grammar_overlap_smoke():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "grammar_overlap.py"), "--smoke"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("model folk: 4 tunes, ") and int(lines[0].split(", ")[1].split()[0]) > 0
    serial = float(lines[1].rsplit(None, 2)[-2])
    overlapped = float(lines[2].rsplit(None, 2)[-2])
    ratio = float(lines[3].rsplit(None, 1)[-1])
    assert serial > 0 and overlapped > 0
    # the seconds are printed to the millisecond, the ratio to 0.01: in a smoke run of a few
    # hundredths of a second the rounding alone moves overlapped / serial by several hundredths
    low, high = (overlapped - 0.0005) / (serial + 0.0005), (overlapped + 0.0005) / (serial - 0.0005)
    assert low - 0.005 <= ratio <= high + 0.005


def test_tonic_c_moves_each_tune_to_c_and_keeps_what_it_cannot_move(tmp_path):
    book = tmp_path / "book.abc"
    book.write_text("% a preamble\n\nX:1\nT:In G\nM:2/4\nL:1/8\nK:G\n\"D7\"AB =f2|g4|]\n\n"
                    "X:2\nT:In D dorian\nM:2/4\nL:1/8\nK:Ddor\nDE Fd|[K:A]A4|]\n\n"
                    "X:3\nT:No tonic\nM:2/4\nL:1/8\nK:none\nAB cd|]\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tonic_c.py"), str(book), "--out",
                           str(tmp_path / "c")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 tunes moved to C, 0 on C already, 1 kept as written" in done.stdout
    moved = (tmp_path / "c" / "book.abc").read_text(encoding="utf-8")
    assert moved.startswith("% a preamble\n")
    # G up a fourth: A B become d e, the natural f (the lowered seventh of G) is a flat b, D7 is G7
    assert "K:C\n\"G7\"de _b2|c'4|]" in moved
    # D dorian down a tone: C dorian; the inline key moves with it
    assert "K:Cdor\nCD Ec|[K:G]G4|]" in moved
    assert "K:none\nAB cd|]" in moved
    same = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tonic_c.py"), str(book), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert same.returncode == 2 and "would be written over" in same.stderr


def test_grammar_cost_smoke(tmp_path):
    """The replay answers as the sampler did, and a second run compares its answers with the first's."""
    answers = tmp_path / "answers.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "grammar_cost.py"), "--smoke", "--answers", str(answers)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "the grammar alone" in first.stdout and "answers written" in first.stdout
    assert json.loads(answers.read_text())       # the rows refused per step: some steps were answered
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "the same answers" in again.stdout, again.stderr[-3000:]
    answers.write_text(json.dumps([[0]]))
    differs = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert differs.returncode == 1 and "answers differ" in differs.stderr


def test_grammar_acceptance_reports_refused_tunes_that_pass_check(tmp_path):
    """A tune the grammar follows to its end is not listed; one it refuses is counted as failing `check`
    or listed with the place it is refused."""
    book = tmp_path / "book.abc"
    head = "X:{}\nT:Tune {}\nM:3/4\nL:1/8\nK:G\n"
    book.write_text(head.format(1, "one") + "G2 A2 B2|c6|d6|]\n\n"
                    + head.format(2, "two") + "G2 A2 B2 c2|c6|d6|]\n")     # a bar of 4/4 in 3/4
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "grammar_acceptance.py"), str(book)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 tunes, 1 refused by the grammar, 1 of them failing check, 0 passing it" in done.stdout


def test_adapt_continue_scores_second_halves_as_the_model_is_and_having_learnt(tmp_path):
    book = tmp_path / "book.abc"
    book.write_text("\n\n".join(f"X:{k}\nT:Tune {k}\nM:6/8\nL:1/8\nK:D\nABA d2e|fed e2d|ABA d2e|fed d3|]\n"
                                for k in (1, 2)))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "adapt_continue.py"), "folk", "--data",
                           str(book), "--lr", "0.1", "--passes", "1", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("2 tunes, ") and "bits per token as the model is" in lines[0]
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "learnt from the first half (lr 0.1, 1 pass)", "learnt from the first half (lr 0.1, 2 passes)"]
