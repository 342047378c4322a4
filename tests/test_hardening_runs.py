"""Issue 18, run folders: a run killed before its first checkpoint starts again, one with a checkpoint
names both ways out (--resume, --overwrite); two runs never share a folder (RUN/.lock); metrics.jsonl
holds each step once, in order, whenever a run is killed; a diverged run ends in one line and keeps
its last good checkpoint; every skipped piece is in RUN/skipped.tsv."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tunesmith import TunesmithError, cli
from tunesmith.train import TrainConfig, Trainer, claim, read_metrics, train

from test_train_sample import TINY, folk_corpus

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import hostile_runs  # noqa: E402

SETTINGS = dict(TINY, eval_every=5, copy_index=False)
BROKEN = "X:{n}\nT:no key {n}\nabc\n"


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, [line for line in err.splitlines() if line.strip()]


def steps_of(run):
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_run_killed_before_its_first_checkpoint_starts_again(tmp_path, capsys):
    corpus = folk_corpus(tmp_path)
    run = tmp_path / "run"
    train(TrainConfig(corpus=[str(corpus)], out=str(run), steps=10, **SETTINGS))
    for name in ("last", "best", "checkpoints"):     # what a kill before the first checkpoint leaves
        shutil.rmtree(run / name)
    (run / "metrics.jsonl").write_text('{"step": 5, "train_bits": 9.0}\n{"step": 1')
    # before: --resume said "no last/", a new start "already holds a training run"
    code, err = run_cli(capsys, "train", "--out", str(run), "--resume", "--steps", "10")
    assert code == 0 and f"warning: {run} holds no checkpoint: starting it again from the beginning" in err
    assert steps_of(run) == [5, 10] and json.loads((run / "metrics.jsonl").read_text().split("\n")[0])["train_bits"] < 9
    shutil.rmtree(run / "last")
    code, err = run_cli(capsys, "-q", "train", "--corpus", str(corpus), "--out", str(run), "--steps", "5",
                        "--layers", "1", "--hidden", "16", "--no-copy-index")
    assert code == 0 and any("starting it again from the beginning" in line for line in err)
    assert json.loads((run / "run.json").read_text())["settings"]["hidden"] == 16   # the new settings
    assert steps_of(run) == [5] and not (run / "checkpoints" / "step-0000010").exists()


def test_a_run_with_a_checkpoint_names_both_ways_out(tmp_path, capsys):
    corpus = folk_corpus(tmp_path)
    run = tmp_path / "run"
    train(TrainConfig(corpus=[str(corpus)], out=str(run), steps=10, **SETTINGS))
    code, err = run_cli(capsys, "train", "--corpus", str(corpus), "--out", str(run))
    assert code == 2 and err == [f"error: '{run}' already holds a training run (its checkpoint is at step 10); pass "
                                 f"--resume to continue it, --overwrite to start it again from the beginning, or "
                                 f"choose another --out"]
    code, err = run_cli(capsys, "train", "--out", str(run), "--resume", "--overwrite")
    assert code == 2 and len(err) == 1 and "give one of them" in err[0]
    (run / "select.json").write_text("{}")
    (run / "notes.txt").write_text("mine")
    code, err = run_cli(capsys, "-q", "train", "--corpus", str(corpus), "--out", str(run), "--overwrite",
                        "--steps", "5", "--eval-every", "5", "--no-copy-index", "--layers", "1")
    assert code == 0 and any("--overwrite: starting" in line for line in err)
    assert steps_of(run) == [5] and sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000005"]
    assert not (run / "select.json").exists() and (run / "notes.txt").read_text() == "mine"   # only the run's own


def test_a_folder_left_by_a_failed_start_does_not_block_the_next(tmp_path, capsys):
    bad = tmp_path / "bad.abc"
    bad.write_text("\n".join(BROKEN.format(n=n) for n in range(60)))
    run = tmp_path / "run"
    code, err = run_cli(capsys, "-q", "train", "--corpus", str(bad), "--out", str(run))
    assert code == 2 and "no usable pieces" in err[-1]
    lines = (run / "skipped.tsv").read_text().splitlines()   # every reason, not the first 50
    assert lines[0] == "where\treason" and len(lines) == 61
    good = folk_corpus(tmp_path)
    shutil.copyfile(good, tmp_path / "mixed.abc")
    with open(tmp_path / "mixed.abc", "a") as f:
        f.write("\n" + "\n".join(BROKEN.format(n=n + 100) for n in range(55)))
    train(TrainConfig(corpus=[str(tmp_path / "mixed.abc")], out=str(run), steps=5, **SETTINGS))
    assert len((run / "skipped.tsv").read_text().splitlines()) == 56
    assert steps_of(run) == [5]


def test_two_trainings_into_one_folder_the_second_is_refused(tmp_path, capsys):
    corpus = folk_corpus(tmp_path)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TUNESMITH_CACHE": str(tmp_path / "cache")}
    first = subprocess.Popen([sys.executable, "-m", "tunesmith", "-q", "train", "--corpus", str(corpus), "--out",
                              str(run), "--steps", "100000", *hostile_runs.SHAPE], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and not (run / "run.json").exists() and first.poll() is None:
            time.sleep(0.1)
        assert (run / ".lock").read_text().strip() == str(first.pid)
        for argv in (["train", "--corpus", str(corpus), "--out", str(run)], ["train", "--out", str(run), "--resume"],
                     ["train", "--corpus", str(corpus), "--out", str(run), "--overwrite"]):
            code, err = run_cli(capsys, *argv)
            assert code == 2 and err == [f"error: '{run}' is in use by another training run (process {first.pid}); "
                                         f"wait for it to end or choose another --out"]
        assert first.poll() is None and (run / "run.json").exists()   # the first one ran on, untouched
    finally:
        first.kill()
        first.wait()
    code, _ = run_cli(capsys, "-q", "train", "--out", str(run), "--resume", "--steps", "4")   # the lock went with it
    assert code == 0


def test_a_resume_drops_metric_rows_after_its_checkpoint_and_a_torn_line(tmp_path):
    corpus = folk_corpus(tmp_path)
    run = tmp_path / "run"
    train(TrainConfig(corpus=[str(corpus)], out=str(run), steps=10, **SETTINGS))
    # killed after writing step 15's row, before its checkpoint, in the middle of the next line
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 15, "train_bits": 99.0}) + "\n" + '{"step": 20, "train_b')
    assert [r["step"] for r in read_metrics(run)] == [5, 10, 15]     # the torn line is left out, not an error
    result = train(TrainConfig(corpus=[], out=str(run), steps=20), resume=True)
    assert steps_of(run) == [5, 10, 15, 20] and [r["step"] for r in result.history] == [5, 10, 15, 20]
    assert all(r["train_bits"] < 99 for r in read_metrics(run))


def test_runs_killed_at_random_moments_resume_with_each_step_once(tmp_path):
    outcome = hostile_runs.hostile_run(tmp_path, kills=5, seed=2)
    assert outcome.failures == [] and outcome.kills == 5
    assert outcome.resumed == outcome.resumes == 5 and outcome.final_status == 0
    assert outcome.duplicated == 0 and outcome.increasing and outcome.steps


def finite_weights(run):
    files = list(run.rglob("weights.safetensors"))
    return files, all(bool(torch.isfinite(t).all()) for f in files for t in load_file(str(f)).values())


def test_a_diverged_run_ends_in_one_line_and_keeps_its_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    corpus = folk_corpus(tmp_path)
    run = tmp_path / "run"
    code, err = run_cli(capsys, "-q", "train", "--corpus", str(corpus), "--out", str(run), "--lr", "1e38",
                        "--steps", "30", "--eval-every", "5", "--no-copy-index", "--layers", "1")
    assert code == 2 and len(err) == 1
    assert re.fullmatch(r"error: training diverged at step \d+ \((loss|validation loss) (nan|inf)\) before its "
                        r"first checkpoint: start it again with a lower --lr", err[0]), err[0]
    assert finite_weights(run)[1]                          # no checkpoint of a diverged model
    assert all(r["train_bits"] == r["train_bits"] for r in read_metrics(run))

    other = tmp_path / "other"
    train(TrainConfig(corpus=[str(corpus)], out=str(other), steps=10, **SETTINGS))
    before = load_file(str(other / "last" / "weights.safetensors"))
    update = Trainer._update

    def poisoned(self, loss):   # the weights blow up during step 13
        update(self, loss)
        if self.progress.step == 12:
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("inf"))
    monkeypatch.setattr(Trainer, "_update", poisoned)
    with pytest.raises(TunesmithError) as caught:
        train(TrainConfig(corpus=[], out=str(other), steps=20), resume=True)
    assert str(caught.value) == (f"training diverged at step 14 (loss nan); the last good checkpoint is in "
                                 f"{other / 'last'}: try a lower --lr")
    after = load_file(str(other / "last" / "weights.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert json.loads((other / "last" / "trainer.json").read_text())["step"] == 10 and finite_weights(other)[1]


def test_a_kill_while_last_was_replaced_gets_the_previous_one_back(tmp_path):
    corpus = folk_corpus(tmp_path)
    run = tmp_path / "run"
    train(TrainConfig(corpus=[str(corpus)], out=str(run), steps=10, **SETTINGS))
    os.replace(run / "last", run / ".last.old-12345")     # killed between the two renames of atomic.folder
    (run / ".last.abcd.tmp").mkdir()                      # and a temporary of the new one
    assert not claim.has_checkpoint(run)
    result = train(TrainConfig(corpus=[], out=str(run), steps=15), resume=True)
    assert result.steps == 15 and steps_of(run) == [5, 10, 15]
    assert not [p.name for p in run.iterdir() if p.name.startswith(".") and p.name != ".lock"]
