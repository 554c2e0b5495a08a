"""Browser-view responsiveness: Step latency and Play rate of `ouroboros viz` in Chromium.

Per scenario, starts `ouroboros viz SCENARIO` on a free port of 127.0.0.1, opens the page in
Debian's headless Chromium through Playwright (offline, loopback only) and measures:

- Step: `--steps` clicks on Step, each timed from the click until the page's step counter
  shows the next step (`counter_s`) and until all four figures are replaced by new ones
  (`figures_s`); medians over the clicks. Clicks come back to back (`pause_s` 0: the next
  click as soon as the figures are on screen, the worst case) and then `--pause` seconds
  apart (someone looking at each step: the page draws the next step ahead meanwhile).
- Play: after Reset, Play for `--play` seconds of wall time (shorter than the whole run
  takes), then Pause; the model steps the counter moved per second (the page redraws at
  most every `simulation.app.FRAME_SECONDS` meanwhile).

Issue 15's targets: median Step <= 0.25 s, Play >= 4 steps/s. The machine's 1-minute load
average before and after is recorded with each row: the page shares the CPU with whatever
else runs. Rows are appended to benchmarks/viz_results.csv.

    python benchmarks/viz.py                                       # baseline and web_10k
    python benchmarks/viz.py --scenario scenarios/baseline.yaml --screenshots /tmp
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchlib import HERE, OUROBOROS, ROOT, append_rows

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCENARIOS = [ROOT / "scenarios" / "baseline.yaml", ROOT / "scenarios" / "web_10k.yaml"]
TARGET_STEP_S = 0.25
TARGET_PLAY_RATE = 4.0
FIGURES = 4
TIMEOUT_MS = 120_000
RESULT_FIELDS = (
    "timestamp",
    "commit",
    "scenario",
    "clicks",
    "pause_s",
    "counter_s",
    "figures_s",
    "play_s",
    "play_steps",
    "steps_per_s",
    "load_before",
    "load_after",
)


@contextmanager
def served(scenario: Path) -> Iterator[str]:
    """`ouroboros viz SCENARIO` on a free loopback port; its URL once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    cmd = [str(OUROBOROS), "viz", str(scenario), "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ouroboros viz {scenario.name} did not start")
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def counter(page, step: int):
    """The page's step counter showing `step`."""
    return page.get_by_text(re.compile(rf"^Step {step} of \d+"))


def shown_step(page) -> int:
    """The step the page's counter shows."""
    text = page.get_by_text(re.compile(r"^Step \d+ of \d+")).inner_text()
    return int(text.split()[1])


def figures_replaced(page, old: list[str]) -> None:
    """Until all figures are loaded and none is one of `old`."""
    page.wait_for_function(
        """([n, old]) => {
            const imgs = [...document.querySelectorAll('img')];
            return imgs.length === n && imgs.every((img, i) =>
                img.complete && img.naturalWidth > 0 && img.src !== old[i]);
        }""",
        arg=[FIGURES, old],
    )


def sources(page) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('img')].map(i => i.src)")


def time_steps(page, clicks: int, pause_s: float) -> tuple[list[float], list[float]]:
    """Seconds from each click on Step to the new counter, and to all figures replaced."""
    step = page.get_by_role("button", name="Step")
    on_counter, on_figures = [], []
    for _ in range(clicks):
        page.wait_for_timeout(pause_s * 1000)
        old, shown = sources(page), shown_step(page)
        start = time.perf_counter()
        step.click()
        counter(page, shown + 1).wait_for()
        on_counter.append(time.perf_counter() - start)
        figures_replaced(page, old)
        on_figures.append(time.perf_counter() - start)
    return on_counter, on_figures


def measure(browser, url: str, args: argparse.Namespace, name: str) -> list[dict]:
    """Step latencies (back to back, then paced) and the Play rate on one fresh page."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("button", name="Step").wait_for()
    counter(page, 0).wait_for()
    figures_replaced(page, [""] * FIGURES)
    rows = []
    for pause_s in (0.0, args.pause):
        on_counter, on_figures = time_steps(page, args.steps, pause_s)
        rows.append(
            {
                "scenario": name,
                "clicks": args.steps,
                "pause_s": pause_s,
                "counter_s": statistics.median(on_counter),
                "figures_s": statistics.median(on_figures),
            }
        )
    if args.screenshots is not None:
        for width, height in ((1440, 900), (1024, 768)):
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(1000)
            page.screenshot(path=args.screenshots / f"viz-{Path(name).stem}-{width}x{height}.png")
        page.set_viewport_size({"width": 1440, "height": 900})
    page.get_by_role("button", name="Reset").click()  # Play from step 0: room to run
    counter(page, 0).wait_for()
    figures_replaced(page, [""] * FIGURES)
    first = shown_step(page)
    start = time.perf_counter()
    page.get_by_role("button", name="Play").click()
    page.wait_for_timeout(args.play * 1000)
    page.get_by_role("button", name="Pause").click()
    played = time.perf_counter() - start
    page.get_by_role("button", name="Play").wait_for()  # the loop has stopped and drawn
    steps = shown_step(page) - first
    page.close()
    play = {"play_s": played, "play_steps": steps, "steps_per_s": steps / played}
    return [{**row, **play} for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, action="append", help="default: both")
    parser.add_argument("--steps", type=int, default=10, help="Step clicks timed")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between paced clicks")
    parser.add_argument("--play", type=float, default=8.0, help="seconds of Play (< the run)")
    parser.add_argument("--screenshots", type=Path, help="save 1440x900 and 1024x768 here")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for scenario in args.scenario or SCENARIOS:
            load_before = os.getloadavg()[0]
            with served(scenario.resolve()) as url:
                measured = measure(browser, url, args, scenario.name)
            loads = {"load_before": load_before, "load_after": os.getloadavg()[0]}
            rows += [{**row, **loads} for row in measured]
        browser.close()
    head = f"{'scenario':<16}{'pause s':>8}{'Step: counter s':>16}{'figures s':>11}"
    print(head + f"{'Play steps/s':>14}{'load':>12}")
    for r in rows:
        print(
            f"{r['scenario']:<16}{r['pause_s']:>8.1f}{r['counter_s']:>16.3f}{r['figures_s']:>11.3f}"
            f"{r['steps_per_s']:>14.2f}{r['load_before']:>6.1f}->{r['load_after']:.1f}"
        )
    print(
        f"medians of {args.steps} Step clicks (targets: <= {TARGET_STEP_S} s); Play over "
        f"{args.play:g} s (target >= {TARGET_PLAY_RATE:g} steps/s); load: 1-minute load average"
    )
    append_rows(rows, HERE / "viz_results.csv", RESULT_FIELDS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
