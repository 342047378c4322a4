"""DDP through torchrun: two CPU processes with gloo on a tiny corpus."""

import json
import os
import subprocess
import sys

from test_train_sample import folk_corpus

TINY = ["--layers", "1", "--hidden", "32", "--embed", "16", "--batch-size", "2", "--seq-len", "32",
        "--eval-every", "10", "--preview-length", "20", "--no-copy-index"]


def torchrun(args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TUNESMITH_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "tunesmith", *args], capture_output=True, text=True, env=env, timeout=300)


def test_two_processes_train_one_model_and_write_the_run_once(tmp_path):
    corpus = folk_corpus(tmp_path)
    run = tmp_path / "run"
    done = torchrun(["train", "--corpus", str(corpus), "--out", str(run), "--steps", "20", *TINY], tmp_path)
    assert done.returncode == 0, done.stderr[-12000:]
    info = json.loads((run / "distributed.json").read_text())
    assert info["world"] == 2 and info["backend"] == "gloo" and info["rows_per_process"] == 2
    assert info["weights_identical"] and len(info["weight_checksums"]) == 2
    assert info["weight_checksums"][0] == info["weight_checksums"][1]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20]          # written once, not once per process
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000010", "step-0000020"]
    assert done.stdout.count("run folder:") == 1           # one process talks
    # the saved LSTM state holds both processes' rows, so a resumed run continues each one
    trainer = json.loads((run / "last" / "trainer.json").read_text())
    assert trainer["world"] == 2
    resumed = torchrun(["train", "--out", str(run), "--resume", "--steps", "30"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30]
    assert json.loads((run / "distributed.json").read_text())["weights_identical"]
