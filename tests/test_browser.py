"""End-to-end: `ouroboros viz` served on 127.0.0.1 and driven in a real headless Chromium.

Uses Debian's chromium (`/usr/bin/chromium`) through Playwright; `playwright install` is never
needed. Without chromium or playwright these tests skip, unless OUROBOROS_REQUIRE_BROWSER=1
(set by `.ci/run`), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import small_scenario

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REQUIRE_ENV = "OUROBOROS_REQUIRE_BROWSER"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TIMEOUT_MS = 60_000
FIGURES = 4  # network, Hill numbers, tail/synthetic shares, rank-frequency


def missing_browser() -> str | None:
    """Why the browser tests cannot run on this machine, or None if they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(scenario: Path, log: Path) -> Iterator[str]:
    """Run `ouroboros viz SCENARIO` on a free port; yield its URL once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "simulation.cli", "viz", str(scenario), "--port", str(port)]
    with log.open("w") as sink:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ouroboros viz exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"ouroboros viz did not answer at {url}:\n{log.read_text()}")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def retry_detached[T](action: Callable[[], T]) -> T:
    """Run a Playwright action; retry once on its "not attached to the DOM" flake, no more."""
    from playwright.sync_api import Error

    try:
        return action()
    except Error as exc:
        if "not attached to the DOM" not in str(exc):
            raise
        return action()


@pytest.fixture(scope="module")
def browser():
    reason = missing_browser()
    if reason is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"browser tests are required ({REQUIRE_ENV}=1) but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def url(browser, tmp_path_factory) -> Iterator[str]:
    """The page for a small scenario (a few hundred milliseconds per model step)."""
    folder = tmp_path_factory.mktemp("viz")
    scenario = folder / "small.yaml"
    scenario.write_text(yaml.safe_dump(small_scenario(steps=12).to_dict()))
    with serve(scenario, folder / "server.log") as address:
        yield address


class Session:
    """One browser tab on the page, with every request and websocket it opened."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.urls: list[str] = []
        self.page.on("request", lambda request: self.urls.append(request.url))
        self.page.on("websocket", lambda ws: self.urls.append(ws.url))
        self.failed: list[str] = []  # assets the server could not serve (e.g. a CDN miss)
        self.page.on("requestfailed", lambda request: self.failed.append(request.url))
        self.page.on(
            "response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}")
        )
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.goto(url)
        self.step_button = self.page.get_by_role("button", name="Step")
        self.step_button.wait_for()
        self.wait_for_figures()

    def figure_sources(self) -> list[str]:
        return self.page.evaluate("[...document.querySelectorAll('img')].map(i => i.src)")

    def wait_for_figures(self, changed_from: list[str] | None = None) -> None:
        """Until all figures are drawn (and, if given, all differ from `changed_from`)."""
        self.page.wait_for_function(
            """([n, old]) => {
                const imgs = [...document.querySelectorAll('img')];
                return imgs.length === n && imgs.every((img, i) =>
                    img.complete && img.naturalWidth > 0 && (!old || img.src !== old[i]));
            }""",
            arg=[FIGURES, changed_from],
        )

    def figures(self) -> list[str]:
        """The figures' pixels, read in one synchronous pass in the page.

        Element screenshots can race a redraw that replaces an image; a single script that draws
        every loaded image to a canvas cannot be interleaved with one.
        """
        self.wait_for_figures()
        return self.page.evaluate(
            """() => [...document.querySelectorAll('img')].map(img => {
                const canvas = document.createElement('canvas');
                canvas.width = img.naturalWidth;
                canvas.height = img.naturalHeight;
                canvas.getContext('2d').drawImage(img, 0, 0);
                return canvas.toDataURL('image/png');
            })"""
        )

    def time_shown(self, t: int) -> None:
        self.page.get_by_text(f"Time: {t}.0", exact=True).wait_for()

    def step(self, t: int) -> None:
        """Press Step and wait until the page shows model time `t` and new figures."""
        before = self.figure_sources()
        retry_detached(self.step_button.click)
        self.time_shown(t)
        self.wait_for_figures(changed_from=before)

    def cell(self, control: str):
        """The value cell of `control` in the "Model in use" table."""
        return self.page.locator("tr").filter(has_text=control).locator("td").nth(1)


@pytest.fixture
def session(browser, url) -> Iterator[Session]:
    tab = Session(browser, url)
    yield tab
    tab.page.close()


def test_page_loads_with_network_and_plots_and_fetches_nothing_outside(session):
    from playwright.sync_api import expect  # waits: a plot may re-render right after loading

    for i in range(FIGURES):
        expect(session.page.locator("img").nth(i)).to_be_visible(timeout=TIMEOUT_MS)
    expect(session.page.get_by_text("Model in use")).to_be_visible(timeout=TIMEOUT_MS)
    session.time_shown(0)
    session.step(1)
    hosts = {urlsplit(u).hostname for u in session.urls if not u.startswith(("data:", "blob:"))}
    assert any(u.startswith("ws://127.0.0.1") for u in session.urls)  # the live connection
    assert hosts and hosts <= LOOPBACK, sorted(hosts - LOOPBACK)
    assert session.failed == []


def test_three_steps_change_every_plot(session):
    before = session.figures()
    for t in (1, 2, 3):
        session.step(t)
    after = session.figures()
    assert all(a != b for a, b in zip(before, after, strict=True))
    from playwright.sync_api import expect

    expect(session.page.get_by_text("step 3 of 12")).to_be_visible(timeout=TIMEOUT_MS)


def test_slider_then_reset_rebuilds_the_model_with_the_new_value(session):
    assert session.cell("Detector TPR").inner_text() == "0.8"
    session.step(1)
    thumb = session.page.locator(".v-input").filter(has_text="Detector TPR").get_by_role("slider")
    retry_detached(thumb.focus)
    retry_detached(lambda: thumb.press("Home"))  # the slider's minimum: TPR 0
    assert thumb.get_attribute("aria-valuenow") == "0"
    assert session.cell("Detector TPR").inner_text() == "0.8"  # applies on Reset only
    retry_detached(session.page.get_by_role("button", name="Reset").click)
    session.time_shown(0)
    session.page.get_by_text("step 0 of 12").wait_for()
    assert session.cell("Detector TPR").inner_text() == "0.0"


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["baseline.yaml", "web_10k.yaml"])
def test_step_latency_in_the_browser(browser, scenario, tmp_path):
    """Seconds from pressing Step to all redrawn figures on screen (median of 6 steps)."""
    with serve(ROOT / "scenarios" / scenario, tmp_path / "server.log") as address:
        tab = Session(browser, address)
        seconds = []
        for t in range(1, 7):
            start = time.perf_counter()
            tab.step(t)
            seconds.append(time.perf_counter() - start)
        tab.page.close()
    median = statistics.median(seconds)
    print(f"\n{scenario}: Step in the browser, median {median:.2f} s, all {seconds}")
    assert median < 5.0
