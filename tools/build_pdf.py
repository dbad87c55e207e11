"""The whole book as one PDF, built offline: a single-page build printed by Chromium.

    .venv/bin/python tools/build_pdf.py [--book-dir DIR] [--out FILE] [--no-build]

1. `jupyter-book build DIR --builder singlehtml` (strict, like `make book`) into
   DIR/_build/singlehtml. It shares _build/.jupyter_cache and _build/.doctrees with
   `make book`, so chapters that the HTML build executed are not executed again.
2. That page is served on 127.0.0.1 and opened in Debian's Chromium through Playwright,
   every request to another host blocked. Once MathJax has typeset every equation and
   the fonts and figures have loaded, Chromium prints it (A4, light colour scheme, page
   numbers) to DIR/_build/pdf/book.pdf (or FILE). book_assets/static/book.css holds the
   print rules: each page of the book starts a sheet, code wraps instead of being cut.

Chinese text needs a CJK font (fonts-wqy-microhei); tools/install_sysdeps.sh installs it
and Chromium. Exits non-zero, saying why, when the build fails, Chromium is missing, a
request left the machine, or the page did not finish rendering.
"""
import argparse
import contextlib
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
RENDER_TIMEOUT_MS = 300_000         # the whole book in one page: thousands of equations

# Resolves once every equation is typeset, every font loaded and every image decoded.
READY_JS = """
async () => {
  if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
  await document.fonts.ready;
  const bad = [];
  for (const img of document.images) {
    try { await img.decode(); } catch (e) { bad.push(img.src); }
  }
  const unset = [...document.querySelectorAll('.math')]
    .filter(m => !m.querySelector('mjx-container')).length;
  return {bad, unset, errors: document.querySelectorAll('mjx-merror').length,
          images: document.images.length};
}
"""

FOOTER = ('<div style="font-size:8px;width:100%;text-align:center;color:#555">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')


def chromium():
    for cand in (os.environ.get("NNCOURSE_CHROMIUM"), "/usr/bin/chromium",
                 shutil.which("chromium"), shutil.which("chromium-browser")):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise SystemExit("build_pdf: no Chromium found (tools/install_sysdeps.sh installs "
                     "it; or set NNCOURSE_CHROMIUM)")


def build_singlehtml(book_dir):
    bin_dir = Path(sys.executable).parent
    cmd = [str(bin_dir / "jupyter-book"), "build", ".", "--builder", "singlehtml",
           "--warningiserror", "--nitpick", "--keep-going"]
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(cmd, cwd=book_dir, env=env, text=True, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit("build_pdf: the single-page build failed:\n"
                         f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):   # Chromium dropped a request
            pass


def root_page(html_dir):
    """The page holding the whole book: index.html, or the page it redirects to."""
    index = (html_dir / "index.html").read_text(encoding="utf-8")
    m = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', index, re.I)
    return m[1] if m else "index.html"


@contextlib.contextmanager
def serve(directory):
    handler = functools.partial(_Quiet, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def print_pdf(html_dir, out):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("build_pdf: the playwright package is missing "
                         "(it is in requirements.txt)")
    args = ["--disable-gpu", "--disable-quic", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")     # Chromium refuses to start sandboxed as root
    blocked = []

    def route(r):
        parts = urlsplit(r.request.url)
        if parts.scheme in ("data", "blob", "about") or parts.hostname in LOCAL_HOSTS:
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort("blockedbyclient")

    with serve(html_dir) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), headless=True,
                                     args=args)
        context = browser.new_context(color_scheme="light", service_workers="block",
                                      viewport={"width": 1280, "height": 900})
        context.route("**/*", route)
        page = context.new_page()
        page.set_default_timeout(RENDER_TIMEOUT_MS)
        page.goto(url + root_page(html_dir), wait_until="load")
        page.emulate_media(media="print")
        state = page.evaluate(READY_JS)
        if blocked:
            raise SystemExit(f"build_pdf: the page asked for other hosts: "
                             f"{blocked[:5]}")
        if state["bad"] or state["unset"] or state["errors"]:
            raise SystemExit(f"build_pdf: the page did not render completely: {state}")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.pdf(path=str(out), format="A4", print_background=True, outline=True,
                 tagged=True, display_header_footer=True,
                 header_template="<span></span>", footer_template=FOOTER,
                 margin={"top": "16mm", "bottom": "16mm", "left": "14mm",
                         "right": "14mm"})
        browser.close()
    return state


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--book-dir", type=Path, default=ROOT,
                    help="root of the book (default: this repository)")
    ap.add_argument("--out", type=Path,
                    help="PDF path (default: BOOK_DIR/_build/pdf/book.pdf)")
    ap.add_argument("--no-build", action="store_true",
                    help="print the existing _build/singlehtml without rebuilding it")
    opts = ap.parse_args(argv)
    book_dir = opts.book_dir.resolve()
    if not (book_dir / "_config.yml").is_file():
        raise SystemExit(f"build_pdf: {book_dir} has no _config.yml")
    out = (opts.out or book_dir / "_build" / "pdf" / "book.pdf").resolve()
    t0 = time.monotonic()
    if not opts.no_build:
        build_singlehtml(book_dir)
    html_dir = book_dir / "_build" / "singlehtml"
    if not (html_dir / "index.html").is_file():
        raise SystemExit(f"build_pdf: no {html_dir}/index.html "
                         "(run without --no-build)")
    t1 = time.monotonic()
    state = print_pdf(html_dir, out)
    print(f"build_pdf: {out} ({out.stat().st_size / 1e6:.1f} MB, {state['images']} "
          f"images; single-page build {t1 - t0:.0f} s, printing "
          f"{time.monotonic() - t1:.0f} s)")


if __name__ == "__main__":
    main()
