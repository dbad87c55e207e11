"""Browser-test helpers: Debian's Chromium driven by Playwright, offline, watched for errors.

`playwright install` cannot download browsers here, so the tests drive the system Chromium
(installed by tools/install_sysdeps.sh, which `make test` runs). Every page is opened in a context
that aborts any request to a host other than 127.0.0.1 and records it, together with console
errors, uncaught exceptions, failed requests and HTTP errors, so a test can assert that the page
works offline and cleanly.

Use from a test module with `from browser_fixtures import browser, watched_page, serve, ...`
(pytest picks up fixtures imported into a test module).
"""
import contextlib
import functools
import http.server
import os
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def chromium_executable():
    """Path of the system Chromium, or None."""
    for cand in (os.environ.get("NNCOURSE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def launch_args():
    """Chromium flags: no GPU, no QUIC, no background traffic to Google; no sandbox as root."""
    args = ["--disable-gpu", "--disable-quic", "--disable-background-networking",
            "--disable-component-update", "--disable-default-apps", "--no-first-run",
            "--disable-dev-shm-usage"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")            # Chromium refuses to start sandboxed as root
    return args


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium per test module (skips, saying why, when there is no Chromium).

    Module scope, not session: Playwright's sync API keeps an event loop of its own while it runs,
    which should not outlive the browser tests into other modules (nbclient, asyncio)."""
    exe = chromium_executable()
    if exe is None:
        pytest.skip("no Chromium: /usr/bin/chromium is missing (tools/install_sysdeps.sh installs it "
                    "with apt when run as root; `make test` runs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed (it is in requirements.txt)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=launch_args())
        yield b
        b.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url, proc, log_path, what, timeout=120):
    """Poll `url` until it answers; fail the test with the log's tail if `proc` exits first
    or `timeout` seconds pass (JupyterLab and JupyterHub take seconds to start)."""
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                tail = Path(log_path).read_text(errors="replace")[-4000:]
                pytest.fail(f"{what} did not start:\n{tail}")
            time.sleep(0.5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory):
    """Serve `directory` over HTTP on 127.0.0.1 (a free port); yields the base URL ending in '/'."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


class Watch:
    """What went wrong while a page was open: collected from Playwright events."""

    def __init__(self):
        self.external = []         # requests to other hosts (aborted)
        self.console_errors = []   # console.error messages
        self.page_errors = []      # uncaught exceptions
        self.failed = []           # requests that failed (network error), other than aborted ones
        self.http_errors = []      # responses with status >= 400

    def problems(self, ignore_console=()):
        """Human-readable list of everything that went wrong (empty when the page was clean)."""
        out = [f"external request blocked: {u}" for u in self.external]
        out += [f"console error: {m}" for m in self.console_errors
                if not any(s in m for s in ignore_console)]
        out += [f"page error: {m}" for m in self.page_errors]
        out += [f"request failed: {u} ({e})" for u, e in self.failed]
        out += [f"HTTP {s}: {u}" for u, s in self.http_errors]
        return out

    def clear(self):
        for lst in (self.external, self.console_errors, self.page_errors, self.failed, self.http_errors):
            lst.clear()


def watch_context(context):
    """Block every request that does not go to 127.0.0.1 and record everything that goes wrong.

    Returns a Watch that collects events of every page opened in `context` (iframes included).
    """
    watch = Watch()

    def route(r):
        url = r.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or parts.hostname in LOCAL_HOSTS:
            r.continue_()
        else:
            watch.external.append(url)
            r.abort("blockedbyclient")

    def on_page(page):
        page.on("console", lambda m: m.type == "error" and watch.console_errors.append(
            f"{m.text} @ {m.location.get('url', '')}"))
        page.on("pageerror", lambda e: watch.page_errors.append(str(e)))
        page.on("requestfailed", lambda r: r.url not in watch.external and watch.failed.append(
            (r.url, r.failure)))
        page.on("response", lambda r: r.status >= 400 and watch.http_errors.append((r.url, r.status)))

    context.route("**/*", route)
    context.on("page", on_page)
    return watch


@pytest.fixture
def watched_page(browser):
    """A fresh page (1280x900) whose context is offline except for 127.0.0.1; yields (page, watch)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    watch = watch_context(context)
    page = context.new_page()
    yield page, watch
    context.close()


def screenshot(page, name, full_page=False):
    """Save artifacts/<name>.png (artifacts/ is gitignored; look at these after a run).

    `name` may hold a folder ("hub/step"). Where several pages share a browser, the page is
    brought to the front first, and Chromium's "Unable to capture screenshot", which it gave
    once in CI for a page in the background while another was loading, is retried twice.
    """
    from playwright.sync_api import Error

    path = ARTIFACTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        page.bring_to_front()
        try:
            page.screenshot(path=str(path), full_page=full_page)
            return path
        except Error as e:
            if "Unable to capture screenshot" not in str(e) or attempt == 2:
                raise
            page.wait_for_timeout(1000)
