"""coursegrade's parts: the data codec, the replay, the cell plan, the sandbox argv; and every
assignment in solutions/ run through the sandbox and the clean check (calibration)."""
import json
import math
import subprocess
import sys
from collections import deque

import nbformat
import numpy as np
import pytest
import torch

from course import ROOT
from coursegrade import cells
from coursegrade.probe import Probe, Recorder, digest, encode
from coursegrade.replay import ReplayError, Replayed, Tape, Unavailable, decode, update_in_place
from coursegrade.sandbox import Limits, Sandbox, kernel_argv


def roundtrip(x):
    return decode(json.loads(json.dumps(encode(x))))


@pytest.mark.parametrize("value", [
    None, True, 3, -2**70, "héllo", 0.1, -0.0, math.inf, (1, [2.5, "x"]), {1: "a", "b": (None,)},
    {3, 1, 2}, 1 + 2j, b"\x00\xff",
])
def test_plain_values_roundtrip(value):
    out = roundtrip(value)
    assert out == value and type(out) is type(value)


def test_nan_and_arrays_roundtrip_exactly():
    assert math.isnan(roundtrip(float("nan")))
    rng = np.random.default_rng(0)
    for a in [rng.normal(size=(3, 4)), rng.normal(size=(4, 6))[:, ::2], np.arange(5, dtype=np.int16),
              np.array(True), np.zeros((0, 3), np.float32), rng.normal(size=3) + 1j, np.array(["ab", "c"])]:
        b = roundtrip(a)
        assert type(b) is np.ndarray and b.dtype == a.dtype and b.shape == a.shape
        assert np.array_equal(a, b)
    s = roundtrip(np.float32(1.5))
    assert type(s) is np.float32 and s == 1.5
    t = roundtrip(torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True))
    assert isinstance(t, torch.Tensor) and t.requires_grad and t.dtype == torch.float64


def test_array_subclass_travels_as_plain_array():
    class Liar(np.ndarray):
        def __array_function__(self, *args, **kwargs):
            return True                      # would make np.allclose(self, anything) true
    liar = np.zeros(3).view(Liar)
    assert np.allclose(liar, [1, 2, 3]) is True
    assert not np.allclose(roundtrip(liar), [1, 2, 3])


def test_decode_accepts_plain_data_only():
    with pytest.raises(ValueError):
        decode({"$nd": ["|O", [1], "AAAAAAAAAAA="]})             # object arrays could hold anything
    with pytest.raises(ValueError):
        decode({"$nd": ["<f8", [100], "AAAAAAAAAAA="]})          # size does not match shape
    with pytest.raises(ValueError):
        decode({"a": 1, "b": 2})
    with pytest.raises(ValueError):
        decode([1, 2])
    assert isinstance(decode({"$opaque": "Layer"}), Unavailable)
    assert isinstance(decode({"$module": "os.not_imported_here_xyz"}), Unavailable)
    with pytest.raises(ReplayError):
        decode({"$fn": "train"})()


def record(fn, *calls, path):
    """Record calls to `fn` the way the kernel-side probe does."""
    ns = {"f": fn}
    rec = Recorder(ns, ["f"], str(path))
    assert isinstance(ns["f"], Probe) and ns["f"].__code__ is fn.__code__   # introspection sees the student's code
    for args in calls:
        try:
            ns["f"](*args)
        except Exception:
            pass                 # the probe passes exceptions on to the test, after recording them
    rec.disarm()
    assert ns["f"] is fn
    return json.loads(path.read_text())


def test_replay_returns_recorded_results_and_checks_arguments(tmp_path):
    def f(x, k=2):
        return x * 2
    x = np.arange(3.0)
    tape = record(f, (x,), path=tmp_path / "r.json")
    Tape.calls = deque(tape["calls"])
    g = Replayed("f", None, {})
    assert np.array_equal(g(np.arange(3.0)), x * 2)
    Tape.calls = deque(tape["calls"])
    with pytest.raises(ReplayError, match="different arguments"):
        g(np.arange(4.0))
    with pytest.raises(ReplayError, match="not at this point"):
        g(x)


def test_replay_applies_in_place_changes_and_exceptions(tmp_path):
    def step(params, lr):
        for p in params:
            p -= lr
        if lr > 1:
            raise ValueError("learning rate too large")
    params = [np.ones(2), np.zeros(3)]
    tape = record(step, ([p.copy() for p in params], 0.5), ([np.ones(1)], 5.0), path=tmp_path / "r.json")
    Tape.calls = deque(tape["calls"])
    g = Replayed("f", None, {})
    mine = [np.ones(2), np.zeros(3)]
    first = mine[0]
    g(mine, 0.5)
    assert mine[0] is first and np.allclose(first, 0.5) and np.allclose(mine[1], -0.5)
    with pytest.raises(ValueError, match="too large"):
        g([np.ones(1)], 5.0)


def test_update_in_place_refuses_shape_changes():
    a = np.zeros(3)
    assert not update_in_place(a, np.zeros(4))
    lst = [1, 2]
    assert update_in_place(lst, [1, 3]) and lst == [1, 3]


def test_digest_sees_every_argument():
    a = np.arange(4.0)
    assert digest((a,), {}) == digest((a.copy(),), {})
    assert digest((a,), {}) != digest((a + 1e-12,), {})
    assert digest((a,), {"k": 1}) != digest((a,), {"k": 2})


def test_plan_of_ch01():
    from grading_corpus import SOURCE
    nb = nbformat.read(SOURCE, as_version=4)
    p = cells.plan(nb)
    by_id = {gid: i for i, gid in p.grade_ids.items()}
    assert p.kinds[by_id["setup"]] == "instructor" and p.kinds[by_id["linear_scores"]] == "student"
    assert p.kinds[by_id["test_network_forward"]] == "test"
    assert p.watch[by_id["test_linear_scores"]] == ["linear_scores"]
    assert set(p.watch[by_id["test_network_forward"]]) >= {"linear_scores", "bias_trick", "network_forward"}
    assert not p.suspicious


def test_suspicious_code_is_named():
    src = ("import numpy as np, os, sys\nnp.allclose = lambda *a: True\nsetattr(np, 'isclose', None)\n"
           "f = sys._getframe(0)\nos.kill(1, 9)\nimport nnutils.linear as L\n")
    found = cells.suspicious(cells.parse(src), {"np", "os", "sys"})
    assert {"assigns np.allclose", "setattr(np, ...)", "inspects stack frames", "sends signals",
            "uses nnutils"} <= set(found)
    assert cells.suspicious(cells.parse("def f(x):\n    return x @ x.T\n"), {"np"}) == []


def test_bindings_and_static_imports():
    tree = cells.parse("import nnutils.linear as L\nfrom nnutils.linear import linear_scores as ls\n"
                       "import numpy\nx, (y, z) = 1, (2, 3)\nfor i in range(3):\n    w = i\n"
                       "def f():\n    global g\n    g = 1\n%time q = 1\n")
    b = cells.bindings(tree)
    assert b["L"] == ("nnutils.linear", True) and b["ls"] == ("nnutils.linear.linear_scores", False)
    assert b["numpy"] == ("numpy", True)
    assert {"x", "y", "z", "i", "w", "f", "g"} <= set(b)


def test_bwrap_argv_isolates_the_kernel(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    argv = kernel_argv(Sandbox(mode="bwrap", limits=Limits(memory=123456789)), course, tmp_path / "scratch", 201234)
    text = " ".join(argv)
    for flag in ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session",
                 "--clearenv", "--unsetenv JPY_PARENT_PID", f"--tmpfs {course.resolve()}", "--tmpfs /tmp",
                 "--tmpfs /root", "--tmpfs /run", "--ro-bind / /", "--uid 201234", "--limit=AS=123456789",
                 "--env=PYTHONHASHSEED=0", "-I -m coursegrade.launch", "-f {connection_file}"]:
        assert flag in text, flag
    binds = [argv[i + 1] for i, a in enumerate(argv) if a == "--bind"]
    assert binds == [str(tmp_path / "scratch")], "the kernel may write only in its scratch folder"
    assert text.index("--tmpfs /tmp") < text.index("--bind")


def test_launcher_sets_limits_and_exact_environment():
    code = "import os, resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], sorted(os.environ))"
    out = subprocess.run([sys.executable, "-I", "-m", "coursegrade.launch", "--limit=NOFILE=77", "--env=ONLY=1",
                          "--", sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    limit, env = out.stdout.split(" ", 1)
    assert limit == "77"
    assert eval(env) in (["ONLY"], ["LC_CTYPE", "ONLY"])     # Python may add LC_CTYPE (PEP 538)


def test_replay_keeps_identity_and_new_dict_entries(tmp_path):
    def f(x, config):
        config.update(t=config.get("t", 0) + 1, m=np.ones(2))
        return x, None                       # returns its argument itself
    x = np.arange(2.0)
    tape = record(f, (x, {"lr": 0.1}), path=tmp_path / "r.json")
    Tape.calls = deque(tape["calls"])
    mine_x, cfg = np.arange(2.0), {"lr": 0.1}
    out, none = Replayed("f", None, {})(mine_x, cfg)
    assert out is mine_x and none is None
    assert cfg["t"] == 1 and np.array_equal(cfg["m"], np.ones(2)) and cfg["lr"] == 0.1


def test_replay_gives_torch_results_their_gradients(tmp_path):
    def loss(x, y):
        return (x ** 2).sum() + (x * y).sum()
    x, y = torch.tensor([1.0, -2.0], requires_grad=True), torch.tensor([3.0, 4.0])
    tape = record(loss, (x, y), path=tmp_path / "r.json")
    Tape.calls = deque(tape["calls"])
    x2 = torch.tensor([1.0, -2.0], requires_grad=True)
    out = Replayed("f", None, {})(x2, torch.tensor([3.0, 4.0]))
    assert out.item() == loss(x, y).item()
    out.backward()
    assert torch.equal(x2.grad, 2 * x2.detach() + torch.tensor([3.0, 4.0]))


# Tests that use student objects (e.g. torch modules updated in place) cannot be replayed by the
# clean check and are graded in the kernel only (see coursegrade/README.md). Listed here on purpose:
# a new test that cannot be tamper-checked should be noticed.
KERNEL_ONLY = {"ch11_gan": {"test_train_step"}}


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "solutions").iterdir()
                                        if (p / f"{p.name}.ipynb").exists()))
def test_every_assignment_calibrates(name):
    """The instructor's solution passes in the sandbox, and the clean check replays its tests."""
    from coursegrade.batch import Options, calibrate
    cal = calibrate(ROOT, name, Options(cell_timeout=120, notebook_timeout=300))
    assert cal["verified"], cal
    assert set(cal["unverified"]) == KERNEL_ONLY.get(name, set()), (
        f"tests of {name} the clean check cannot replay (graded in the kernel only): {cal['unverified']}")
