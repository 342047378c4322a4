"""The speed benchmark's seconds-long smoke version runs and prints its table."""

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
    assert results["reading"]["midi events"]["cache_speedup"] > 1
