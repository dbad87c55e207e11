import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))   # tests/course.py and friends

try:  # one torch thread everywhere: on 2 shared cores, two threads ran small models up to 17x slower
    import torch
    torch.set_num_threads(1)
except ImportError:
    pass


import os
import subprocess

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def built_book():
    """Build the whole book strictly (same command as `make book`) once per session.

    Every chapter notebook is executed (jupyter-cache reuses unchanged ones); a failing cell,
    broken reference or any warning fails the build. Returns the path of _build/html.
    Set NNCOURSE_SKIP_BOOK_BUILD=1 to reuse an existing _build/html (the build is then not retested).
    """
    html = ROOT / "_build" / "html"
    if os.environ.get("NNCOURSE_SKIP_BOOK_BUILD") != "1":
        bin_dir = Path(sys.executable).parent
        proc = subprocess.run(
            [str(bin_dir / "jupyter-book"), "build", ".", "--warningiserror", "--nitpick", "--keep-going"],
            cwd=ROOT, capture_output=True, text=True,
            env=dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}"))
        assert proc.returncode == 0, f"book build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert (html / "index.html").exists()
    return html
