"""The web app's goal: seconds from pressing Compose to sheet music on screen, in headless Chromium.

    python benchmarks/web_latency.py                 # the shipped folk model, its card's settings, 6 presses
    python benchmarks/web_latency.py --model chorale --presses 3

Starts the app on a free loopback port with the models on the search path,
waits until its render workers are warm (as on a server that has been up a
few seconds), then opens the page in Debian's chromium (selenium and
chromium-driver, as tests/test_web.py does), picks the model and presses
Compose --presses times, timing each press until the score's SVG is shown.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> int:
    from test_web import Server, _chromium_missing, chrome, compose_in_browser

    from tunesmith import log
    from tunesmith.web import app as web

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="folk")
    ap.add_argument("--presses", type=int, default=6)
    args = ap.parse_args()
    missing = _chromium_missing()
    if missing:
        raise SystemExit(missing)
    log.set_quiet(True)
    app = web.create_app([])
    with Server(app) as base, tempfile.TemporaryDirectory() as downloads:
        deadline = time.monotonic() + 60
        while not app.state.composer.workers.ready and time.monotonic() < deadline:
            time.sleep(0.05)
        driver = chrome(Path(downloads))
        try:
            times = [compose_in_browser(driver, base, args.model, None, None, checked=True)
                     for _ in range(args.presses)]
        finally:
            driver.quit()
    print(f"{args.model}: Compose -> sheet music on screen: {', '.join(f'{t:.2f}' for t in times)} s "
          f"(median {statistics.median(times):.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
