import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))   # tests/course.py and friends

try:  # one torch thread everywhere: on 2 shared cores, two threads ran small models up to 17x slower
    import torch
    torch.set_num_threads(1)
except ImportError:
    pass


import os
import re
import subprocess

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]


BOOK_MODULES = ("test_book", "test_browser_book")   # the tests that use `built_book`


@pytest.hookimpl(tryfirst=True)   # before xdist's own hook, which reads the marks to group
def pytest_collection_modifyitems(config, items):
    """Work units for `pytest -n 2 --dist loadgroup` (the Makefile's test target).

    Each test module is one group, so its module-scoped fixtures (a graded corpus, a running
    JupyterLab) are built once, on one worker; the two files that grade every assignment are
    split per assignment instead, since each assignment's course is graded independently.
    The modules that need the built book share one group: split over two workers, one would
    sit idle for minutes waiting for the other's build.
    """
    for item in items:
        module = Path(str(item.fspath)).stem
        name = getattr(getattr(item, "callspec", None), "params", {}).get("name")
        per_assignment = module in ("test_assignments", "test_coursegrade_assignments")
        group = f"{module}-{name}" if per_assignment and name else module
        if module in BOOK_MODULES:    # one worker builds the book and tests it; none waits
            group = "book"
        item.add_marker(pytest.mark.xdist_group(group))


def build_failure(output):
    """What a failed book build says about its cause, at the end, where CI's excerpt of a
    report is: Sphinx ends its output with a long traceback of its own, after the cell."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", output)                    # no colour codes
    warnings = [line for line in text.splitlines() if "WARNING:" in line or "ERROR:" in line]
    cells = {}      # each failing cell once (Sphinx repeats it), up to its error
    for m in re.finditer(r"An error occurred while executing the following cell", text):
        excerpt = text[m.start():m.start() + 3000].split("[mystnb.exec]")[0]
        cells.setdefault(excerpt.split("\n------------------\n\n")[0], excerpt)
    return "\n".join(["book build failed; the end of its output:", text[-2000:],
                      *[f"--- a failing cell ---\n{c}" for c in list(cells.values())[:3]],
                      "--- warnings and errors ---", *warnings[:40]])


@pytest.fixture(scope="session")
def built_book():
    """Build the whole book strictly (same command as `make book`) once per session.

    Every chapter notebook is executed (jupyter-cache reuses unchanged ones); a failing cell,
    broken reference or any warning fails the build. Returns the path of _build/html.
    Set NNCOURSE_SKIP_BOOK_BUILD=1 to reuse an existing _build/html (the build is then not retested),
    and NNCOURSE_BOOK_DIR to build (or reuse) the book of another copy of the repository.
    """
    book_root = Path(os.environ.get("NNCOURSE_BOOK_DIR") or ROOT).resolve()
    html = book_root / "_build" / "html"
    html.parent.mkdir(exist_ok=True)
    # Under pytest-xdist one worker builds and the others wait, then reuse that build.
    done = html.parent / f".built-{os.environ.get('PYTEST_XDIST_TESTRUNUID', os.getpid())}"
    with FileLock(html.parent / ".build.lock"):
        if os.environ.get("NNCOURSE_SKIP_BOOK_BUILD") != "1" and not done.exists():
            for old in html.parent.glob(".built-*"):
                old.unlink()
            bin_dir = Path(sys.executable).parent
            proc = subprocess.run(
                [str(bin_dir / "jupyter-book"), "build", ".", "--warningiserror", "--nitpick",
                 "--keep-going"],
                cwd=book_root, capture_output=True, text=True,
                env=dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}"))
            assert proc.returncode == 0, build_failure(proc.stdout + proc.stderr)
            done.touch()
    assert (html / "index.html").exists()
    return html
