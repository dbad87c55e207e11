"""coursegrade's parts: the data codec, the cell plan, the trusted runner's pieces, the sandbox
argv, the fail-closed configuration check. Every assignment is graded end to end by
tests/test_coursegrade_assignments.py."""
import json
import math
import subprocess
import sys

import nbformat
import numpy as np
import pytest
import torch

from course import ROOT
from coursegrade import cells
from coursegrade.kernelside import encode, state
from coursegrade.sandbox import Limits, Sandbox, kernel_argv
from coursegrade.trusted import (Bridge, RemoteFunction, RemoteHandle, Unavailable, code_objects, decode,
                                 split_hidden, update_in_place, with_gradients)


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
    assert isinstance(decode({"$module": "os"}), Unavailable)      # no module, function or code crosses
    assert isinstance(decode({"$handle": [0, "Layer", True]}), Unavailable)   # handles need a bridge


def test_objects_stay_in_the_kernel_as_handles():
    class Layer:
        pass
    enc = encode([1.0, Layer(), np.array([object()], dtype=object)])
    assert enc["$list"][1]["$handle"][1].endswith("Layer") and "$handle" in enc["$list"][2]
    out = decode(json.loads(json.dumps(enc)), bridge=Bridge())
    assert out[0] == 1.0 and isinstance(out[1], RemoteHandle) and "in the student's kernel" in repr(out[1])


def test_declared_in_place_state_is_applied():
    a = np.zeros(3)
    assert update_in_place(a, np.ones(3)) and np.array_equal(a, np.ones(3))
    assert not update_in_place(np.zeros(3), np.zeros(4))
    net, other = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    weight = other.weight
    assert update_in_place(other, decode(json.loads(json.dumps(state(net)))))
    assert other.weight is weight and torch.equal(other.weight, net.weight)   # same tensors, new values
    rng, mine = np.random.default_rng(5), np.random.default_rng(0)
    rng.random(7)
    assert update_in_place(mine, decode(json.loads(json.dumps(state(rng)))))
    assert mine.random() == rng.random()
    cfg = {"lr": 0.1}
    assert update_in_place(cfg, {"lr": 0.1, "cache": 2}) and cfg == {"lr": 0.1, "cache": 2}


def test_recorded_jacobian_gives_the_test_its_gradient():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    value = torch.tensor([3.0, 5.0])
    jac = {"0": [[0, encode(np.array([[2.0, 0.0], [0.0, 3.0]]))]]}
    out = with_gradients(value, jac, [x])
    assert torch.equal(out.detach(), value)
    out.sum().backward()
    assert torch.equal(x.grad, torch.tensor([2.0, 3.0]))


def test_split_hidden_parts():
    src = "a = 1\n### BEGIN HIDDEN TESTS\nb = 2\n### END HIDDEN TESTS\nc = 3\n"
    assert split_hidden(src) == [("a = 1", False), ("b = 2", True), ("c = 3", False)]
    assert split_hidden("x = 1") == [("x = 1", False)]


def test_student_code_for_introspection_is_compiled_not_run():
    codes = code_objects(["def f(x):\n    return np.sum(x)\ng = lambda x: helper(x)\nraise SystemExit\n"])
    assert codes["f"].co_names == ("np", "sum") and codes["g"].co_names == ("helper",)
    fn = RemoteFunction("g", Bridge(), codes["g"], {})
    assert fn.__name__ == "g" and "helper" in fn.__code__.co_names


def test_test_functions_become_callbacks():
    from coursegrade.trusted import _is_test_function
    ns = {"__name__": "__main__"}
    exec("def helper(x):\n    return x\nf = lambda: 1\n", ns)
    assert _is_test_function(ns["helper"]) and _is_test_function(ns["f"])
    assert not _is_test_function(np.sum) and not _is_test_function(len)
    bridge = Bridge()
    bridge._pickle(([ns["f"], np.arange(3), torch.nn.Linear(2, 2)], {}))
    assert len(bridge.callbacks) == 1
    exec("class Local:\n    pass\n", ns)
    with pytest.raises(TypeError, match="cannot be sent"):
        bridge._pickle(([ns["Local"]()], {}))


def test_plan_takes_instructor_cells_from_the_source():
    """Kinds and instructor sources come from the source notebook, whatever the submission says."""
    from grading_corpus import SOURCE
    source = nbformat.read(SOURCE, as_version=4)
    nb = nbformat.read(SOURCE, as_version=4)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_linear_scores")
    test.source = "pass  # edited"
    nb.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {
        "grade": True, "grade_id": "mine", "locked": True, "points": 99}}))
    nb.cells.append(nbformat.v4.new_code_cell(test.source, metadata=dict(test.metadata)))   # a duplicate
    p = cells.plan(nb, source)
    by_id = {gid: i for i, gid in p.grade_ids.items()}
    assert p.kinds[by_id["setup"]] == "setup" and p.kinds[by_id["test_network_forward"]] == "test"
    assert "BEGIN HIDDEN TESTS" in p.sources[by_id["test_linear_scores"]], "the source's text runs"
    assert p.kinds[len(nb.cells) - 2] == "student" and p.kinds[len(nb.cells) - 1] == "student"
    assert "mine" not in p.grade_ids.values()
    assert set(p.exposed) == {"linear_scores", "bias_trick", "network_forward", "sigmoid"}


def test_exposed_names_follow_metadata():
    from grading_corpus import SOURCE
    source = nbformat.read(SOURCE, as_version=4)
    source.metadata["coursegrade"] = {"expose": ["linear_scores"], "mutates": {"linear_scores": [1]}}
    assert cells.exposed_names(source) == {"linear_scores": [1]}


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
    from coursegrade.sandbox import package_dir
    robinds = [argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind"]
    assert package_dir("nnutils") not in robinds, "the course's reference is not importable while grading"
    assert package_dir("coursegrade") in robinds
    for sub in ("home", "tmp"):
        assert f"--size {Limits().disk} --tmpfs {tmp_path / 'scratch' / sub}" in text, "disk quota"
    with_pkg = kernel_argv(Sandbox(mode="bwrap", packages=["nnutils"]), course, tmp_path / "scratch", 201234)
    assert package_dir("nnutils") in with_pkg, "an assignment may declare it needs the package"


def test_launcher_sets_limits_and_exact_environment():
    code = "import os, resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], sorted(os.environ))"
    out = subprocess.run([sys.executable, "-I", "-m", "coursegrade.launch", "--limit=NOFILE=77", "--env=ONLY=1",
                          "--", sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    limit, env = out.stdout.split(" ", 1)
    assert limit == "77"
    assert eval(env) in (["ONLY"], ["LC_CTYPE", "ONLY"])     # Python may add LC_CTYPE (PEP 538)




def test_scratch_usage_counts_what_the_kernel_wrote(tmp_path):
    from coursegrade.sandbox import make_scratch, scratch_usage
    sub = tmp_path / "sub"
    sub.mkdir()
    scratch = make_scratch(tmp_path, sub, Sandbox(mode="rlimit"))
    try:
        base = scratch_usage(scratch)
        (scratch.path / "work" / "big.bin").write_bytes(b"x" * 2**20)
        (scratch.path / "check" / "tests.bin").write_bytes(b"x" * 2**20)     # the grader's own: not counted
        assert scratch_usage(scratch) - base >= 2**20
        assert scratch_usage(scratch) - base < 2 * 2**20
        shadow = (scratch.path / "shadow" / "nnutils" / "__init__.py").read_text()
        assert "not available while grading" in shadow
    finally:
        import shutil
        shutil.rmtree(scratch.path)


def test_grading_refuses_a_config_without_the_sandboxed_step(tmp_path):
    """Fail closed: a course config with its own execution step (under any name) is replaced, and
    a config that would still execute notebooks another way is refused."""
    from coursegrade.worker import UnsafeConfiguration, check_execution_steps, load_config
    (tmp_path / "nbgrader_config.py").write_text(
        "from nbgrader.preprocessors import Execute, SaveAutoGrades\n"
        "class Runner(Execute):\n    pass\n"
        "c = get_config()\nc.Autograde.autograde_preprocessors = [Runner, SaveAutoGrades]\n")
    opts = {"course": str(tmp_path), "cell_timeout": 5, "notebook_timeout": 10, "memory": 2**30, "sandbox": "rlimit"}
    sys.path.insert(0, str(tmp_path))
    try:
        cfg = load_config(tmp_path, opts)
    finally:
        sys.path.remove(str(tmp_path))
    assert cfg.Autograde.autograde_preprocessors[0] == "coursegrade.execute.SandboxedExecute"
    from nbgrader.preprocessors import Execute
    cfg.Autograde.autograde_preprocessors = ["coursegrade.execute.SandboxedExecute", Execute]
    with pytest.raises(UnsafeConfiguration):
        check_execution_steps(cfg)
    cfg.Autograde.autograde_preprocessors = ["nbgrader.preprocessors.SaveAutoGrades"]
    with pytest.raises(UnsafeConfiguration):
        check_execution_steps(cfg)
