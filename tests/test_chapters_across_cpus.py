"""tools/chapters_across_cpus.py: the caps reach the libraries, and a chapter runs under them."""
import os
import subprocess
import sys

import pytest
import torch

from course import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import chapters_across_cpus as across  # noqa: E402

CAPABILITY = "import torch; print(torch.backends.cpu.get_cpu_capability())"


def capability(env):
    return subprocess.run([sys.executable, "-c", CAPABILITY], env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_caps_reach_pytorch():
    native = torch.backends.cpu.get_cpu_capability()
    if native == "DEFAULT":
        pytest.skip("this CPU has no AVX2: every cap is already the native code path")
    assert capability(dict(os.environ, **across.CAPS["avx2"])) == "AVX2"
    assert capability(dict(os.environ, **across.CAPS["scalar"])) == "DEFAULT"
    assert capability(dict(os.environ, **across.CAPS["native"])) == native


def test_a_chapter_executes_under_a_cap():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "chapters_across_cpus.py"),
                           "--isa", "scalar", "ch07_receptive_fields"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "ch07_receptive_fields: ok" in proc.stdout
    assert "--isa scalar: 0 of 1 chapters failed" in proc.stdout
    assert (ROOT / "_build" / "across_cpus" / "scalar" / "ch07_receptive_fields.ipynb").exists()


def test_an_unknown_chapter_is_a_clear_error():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "chapters_across_cpus.py"),
                           "ch99_nothing"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "ch99_nothing" in proc.stderr, proc.stderr[-500:]


def test_a_failure_names_the_line_that_raised():
    traceback = ["\x1b[31m-----\x1b[39m",
                 "Cell In[19], line 6\n      5 assert a\n\x1b[32m----> 6\x1b[39m assert b < 0.7\n"
                 "      7 assert c",
                 "AssertionError: "]
    assert across.failing_line(traceback) == "----> 6 assert b < 0.7"
    assert across.failing_line(["NameError: x"]) == "NameError: x"
