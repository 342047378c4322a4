"""Load test of the composer web app: many compose requests at once against a small model.

    python benchmarks/load_test.py                      # 50 at once against a tiny model trained here
    python benchmarks/load_test.py --model folk --requests 20 --json load.json

Starts `tunesmith serve` on a free loopback port (this machine only; the script
talks to no other address), waits until its render workers are ready, then
sends --requests compose requests at the same moment, each from its own
thread. Every request must be answered: 200, or 429/503 with a message (the
server turns away what it cannot take rather than queueing it). Prints the
counts by status and the latency percentiles, then checks the server is
healthy: /api/health answers, nothing is left running, one more compose
succeeds. Bounded: at most 200 requests, --deadline seconds in all.
Exit status 1 when a request went unanswered or the server is unhealthy.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

MAX_REQUESTS = 200
# the tiny model's pieces: two bars of music, then the title field the model's few characters go in
PRIMER = "X:1\nM:4/4\nL:1/8\nK:G\nGABc dedB|A2FA dAFA|\nT:"


def tiny_model(folder: Path) -> Path:
    """Train a model for a few seconds on a made-up book of reels; return the folder holding it."""
    import shutil

    from tunesmith import log
    from tunesmith.train import TrainConfig, train

    log.set_quiet(True)
    bars = ["GABc dedB", "A2FA dAFA", "d2fd cAGF", "GEFD E2D2"]
    tunes = [f"X: {i + 1}\nT:Reel {i}\nM:4/4\nL:1/8\nK:{'GDAC'[i % 4]}\n"
             + "|".join(bars[(i + j) % 4] for j in range(4)) + "|]\n" for i in range(12)]
    (folder / "book.abc").write_text("\n".join(tunes))
    train(TrainConfig(corpus=[str(folder / "book.abc")], out=str(folder / "run"), steps=10, copy_index=False,
                      layers=2, hidden=32, embed=16, batch_size=4, seq_len=32, eval_every=10, preview_length=50))
    shutil.copytree(folder / "run" / "best", folder / "models" / "tiny")
    return folder / "models"


def call(url: str, body: dict | None = None, timeout: float = 300) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50, help="compose requests sent at once (default 50)")
    parser.add_argument("--model", help="a model name on the search path (default: a tiny model trained now)")
    parser.add_argument("--models", action="append", metavar="DIR", help="another folder of models")
    parser.add_argument("--deadline", type=float, default=300, help="seconds the whole test may take (default 300)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be between 1 and {MAX_REQUESTS}")
    started = time.monotonic()

    with tempfile.TemporaryDirectory() as tmp:
        models = list(args.models or [])
        if args.model is None:
            models.append(str(tiny_model(Path(tmp))))
            body = {"model": "tiny", "primer": PRIMER, "length": len(PRIMER) + 1}
        else:
            body = {"model": args.model}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "tunesmith", "-q", "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += [a for m in models for a in ("--models", m)]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            while True:          # up, and its render workers have read their first tune
                if server.poll() is not None:
                    print(f"the server stopped: {server.stderr.read()[-2000:]}", file=sys.stderr)
                    return 1
                try:
                    if call(base + "/api/health", timeout=2)[1].get("renderers_ready"):
                        break
                except OSError:
                    pass
                if time.monotonic() - started > args.deadline:
                    print("the server did not start within the deadline", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            return run(base, body, args, started)
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()


def run(base: str, body: dict, args, started: float) -> int:
    capacity = call(base + "/api/health")[1]["capacity"]
    results: list[tuple[int, float, str]] = [(0, 0.0, "")] * args.requests
    barrier = threading.Barrier(args.requests)
    remaining = max(10.0, args.deadline - (time.monotonic() - started) - 30)

    def one(i: int) -> None:
        barrier.wait()
        t0 = time.perf_counter()
        try:
            status, answer = call(base + "/api/compose", {**body, "seed": i}, timeout=remaining)
            detail = answer.get("detail", "") if isinstance(answer, dict) else ""
        except OSError as exc:
            status, detail = 0, f"no answer: {exc}"
        results[i] = (status, time.perf_counter() - t0, detail)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(args.requests)]
    wave = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(remaining + 5)
    wall = time.perf_counter() - wave

    counts: dict[int, int] = {}
    for status, _, _ in results:
        counts[status] = counts.get(status, 0) + 1
    latencies = [s for _, s, _ in results]
    ok_latencies = [s for st, s, _ in results if st == 200]
    turned_away = [(st, d) for st, _, d in results if st in (429, 503)]
    bad = [(st, d) for st, _, d in results if st not in (200, 429, 503)]
    silent = [st for st, d in turned_away if not d]

    # healthy afterwards: answers, nothing left running, composes again
    deadline = time.monotonic() + 60
    while True:
        health = call(base + "/api/health")[1]
        if health.get("running") == 0 and health.get("waiting") == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    again, _ = call(base + "/api/compose", {**body, "seed": 12345})
    healthy = health.get("status") == "ok" and health.get("running") == 0 and again == 200

    figures = {
        "requests": args.requests, "model": body["model"], "capacity": capacity, "wall_seconds": round(wall, 2),
        "status_counts": {str(k): v for k, v in sorted(counts.items())},
        "latency_p50": round(percentile(latencies, 50), 3), "latency_p95": round(percentile(latencies, 95), 3),
        "latency_max": round(max(latencies), 3),
        "ok_latency_p50": round(percentile(ok_latencies, 50), 3) if ok_latencies else None,
        "ok_latency_p95": round(percentile(ok_latencies, 95), 3) if ok_latencies else None,
        "turned_away_without_message": len(silent), "unexpected": bad[:5],
        "example_message": turned_away[0][1] if turned_away else None,
        "healthy_after": healthy, "compose_after_status": again,
    }
    print(f"{args.requests} compose requests at once against '{body['model']}' "
          f"(server capacity: {capacity['running']} composing + {capacity['waiting']} waiting), {wall:.1f} s:")
    print("  answers: " + ", ".join(f"{v} x {k or 'none'}" for k, v in sorted(counts.items())))
    print(f"  latency, all requests: p50 {figures['latency_p50']:.3f} s, p95 {figures['latency_p95']:.3f} s, "
          f"max {figures['latency_max']:.3f} s")
    if ok_latencies:
        print(f"  latency of the 200s: p50 {figures['ok_latency_p50']:.3f} s, p95 {figures['ok_latency_p95']:.3f} s "
              f"({len(ok_latencies)} pieces composed)")
    if turned_away:
        print(f"  turned away with a message, e.g.: {turned_away[0][0]} {turned_away[0][1]!r}")
    print(f"  afterwards: health {health.get('status')}, running {health.get('running')}, "
          f"one more compose -> {again}: {'healthy' if healthy else 'NOT HEALTHY'}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    failed = bad or silent or not healthy
    if failed:
        print(f"  FAILED: {len(bad)} unexpected answers {bad[:3]}, {len(silent)} without a message", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
