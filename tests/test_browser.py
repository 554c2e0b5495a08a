"""End-to-end: `ouroboros viz` served on 127.0.0.1 and driven in a real headless Chromium.

Uses Debian's chromium (`/usr/bin/chromium`) through Playwright; `playwright install` is never
needed. Without chromium or playwright these tests skip, unless OUROBOROS_REQUIRE_BROWSER=1
(set by `.ci/run`), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import re
import socket
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
def started(scenario: Path, log: Path) -> Iterator[Callable[[], str]]:
    """Start `ouroboros viz SCENARIO` on a free port; yield a function that waits until it
    answers and returns its URL (so the caller can launch Chromium meanwhile)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "simulation.cli", "viz", str(scenario), "--port", str(port)]
    with log.open("w") as sink:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)

    def answering() -> str:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ouroboros viz exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return url
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"ouroboros viz did not answer at {url}:\n{log.read_text()}")
            time.sleep(0.25)

    try:
        yield answering
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def serve(scenario: Path, log: Path) -> Iterator[str]:
    """Run `ouroboros viz SCENARIO` on a free port; yield its URL once it answers."""
    with started(scenario, log) as answering:
        yield answering()


def retry_detached[T](action: Callable[[], T]) -> T:
    """Run a Playwright action; retry once on its "not attached to the DOM" flake, no more."""
    from playwright.sync_api import Error

    try:
        return action()
    except Error as exc:
        if "not attached to the DOM" not in str(exc):
            raise
        return action()


def require_browser() -> None:
    """Skip (or, with OUROBOROS_REQUIRE_BROWSER=1, fail) when the tests cannot run here."""
    reason = missing_browser()
    if reason is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"browser tests are required ({REQUIRE_ENV}=1) but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Callable[[], str]]:
    """`ouroboros viz` of a small scenario (a few hundred milliseconds per model step), started
    before Chromium launches: both take seconds."""
    require_browser()
    folder = tmp_path_factory.mktemp("viz")
    scenario = folder / "small.yaml"
    scenario.write_text(yaml.safe_dump(small_scenario(steps=12).to_dict()))
    with started(scenario, folder / "server.log") as answering:
        yield answering


@pytest.fixture(scope="module")
def url(server, browser) -> str:
    """The page's URL once the server answers (`server` is requested first: it starts first)."""
    return server()


class Session:
    """One browser tab on the page, with every request and websocket it opened, and the model
    time it shows (`time`: a new page shows time 0, `step` and `reset` keep it)."""

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
        self.time = 0
        self.time_shown(0)

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
        """Until the step counter shows step `t`."""
        self.page.get_by_text(re.compile(rf"^Step {t} of \d+")).wait_for()

    def step(self) -> None:
        """Press Step and wait until the page shows the next model time and new figures."""
        before = self.figure_sources()
        retry_detached(self.step_button.click)
        self.time_shown(self.time + 1)
        self.time += 1
        self.wait_for_figures(changed_from=before)

    def reset(self) -> None:
        """Press Reset (the model must have run) and wait for time 0 and new figures."""
        assert self.time > 0, "Reset of a model at time 0 redraws nothing to wait for"
        before = self.figure_sources()
        retry_detached(self.page.get_by_role("button", name="Reset").click)
        self.time_shown(0)
        self.time = 0
        self.wait_for_figures(changed_from=before)

    def cell(self, control: str):
        """The value cell of `control` in the "Model in use" table."""
        return self.page.locator("tr").filter(has_text=control).locator("td").nth(1)


@pytest.fixture(scope="module")
def tabs() -> Iterator[list[Session]]:
    """The module's open tab (none or one): a page load takes seconds, so tests share it."""
    open_tabs: list[Session] = []
    yield open_tabs
    for tab in open_tabs:
        tab.page.close()


@pytest.fixture
def session(url, browser, tabs, request) -> Iterator[Session]:
    """The shared tab, opened on first use. Its model only moves on between tests: each test
    starts from the tab's `time`, not from 0, and controls a test changes are not read by the
    others. A failed test leaves the tab in an unknown state, so the next test gets a new one."""
    if not tabs:
        tabs.append(Session(browser, url))
    failed = request.session.testsfailed
    yield tabs[0]
    if request.session.testsfailed > failed:
        tabs.pop().page.close()


def test_page_loads_with_network_and_plots_and_fetches_nothing_outside(session):
    from playwright.sync_api import expect  # waits: a plot may re-render right after loading

    for i in range(FIGURES):
        expect(session.page.locator("img").nth(i)).to_be_visible(timeout=TIMEOUT_MS)
    expect(session.page.get_by_text("Model in use")).to_be_visible(timeout=TIMEOUT_MS)
    session.time_shown(session.time)  # 0 on a new tab (which `Session` also checks)
    session.step()
    hosts = {urlsplit(u).hostname for u in session.urls if not u.startswith(("data:", "blob:"))}
    assert any(u.startswith("ws://127.0.0.1") for u in session.urls)  # the live connection
    assert hosts and hosts <= LOOPBACK, sorted(hosts - LOOPBACK)
    assert session.failed == []


def test_three_steps_change_every_plot(session):
    before, start = session.figures(), session.time
    for _ in range(3):
        session.step()
    after = session.figures()
    assert all(a != b for a, b in zip(before, after, strict=True))
    from playwright.sync_api import expect

    assert session.time == start + 3
    expect(session.page.get_by_text(f"Step {session.time} of 12")).to_be_visible(timeout=TIMEOUT_MS)


def test_slider_then_reset_rebuilds_the_model_with_the_new_value(session):
    """Run the model (unless an earlier test did), move a slider, Reset: back to time 0 with
    the slider's value. (The slider then stays at 0: no other test reads it.)"""
    assert session.cell("Detector TPR").inner_text() == "0.8"
    if session.time == 0:
        session.step()
    thumb = session.page.locator(".v-input").filter(has_text="Detector TPR").get_by_role("slider")
    retry_detached(thumb.focus)
    retry_detached(lambda: thumb.press("Home"))  # the slider's minimum: TPR 0
    assert thumb.get_attribute("aria-valuenow") == "0"
    assert session.cell("Detector TPR").inner_text() == "0.8"  # applies on Reset only
    session.reset()
    session.page.get_by_text("step 0 of 12").wait_for()
    assert session.cell("Detector TPR").inner_text() == "0.0"


def test_info_panel_opens_and_a_bad_seed_is_rejected_at_its_input(session):
    """The about section explains the colours; a seed of "abc" is marked at the Seed input and
    turns Reset off, while Step goes on; a valid seed turns Reset back on."""
    from playwright.sync_api import expect

    page = session.page
    retry_detached(page.get_by_text("About this view").click)
    expect(page.get_by_text("grey = no new documents")).to_be_visible(timeout=TIMEOUT_MS)
    seed = page.get_by_label("Seed")
    retry_detached(lambda: seed.fill("abc"))
    expect(page.get_by_text("seed must be a non-negative integer (got 'abc')")).to_be_visible()
    reset = page.get_by_role("button", name="Reset")
    expect(reset).to_be_disabled()
    session.step()
    retry_detached(lambda: seed.fill("7"))
    expect(reset).to_be_enabled()
