"""Every assignment graded by coursegrade: tests in the grader, student code in the sandbox.

For each assignment in solutions/, one course, four simulated students as in test_assignments.py
(the instructor's solution, the blank release, a wrong-in-a-hidden-way submission from
tests/wrong_answers/, a correct one warning on stderr), graded with `coursegrade.batch.autograde`,
which first calibrates the assignment (every test must pass with the instructor's solution).
"""
import html

import pytest

from course import assignments, make_course, nbgrader, solution_sources, submit
from test_assignments import hidden_lines, wrong_answers
from coursegrade.batch import Options, autograde

NAMES = assignments()


_GRADED = {}


@pytest.fixture
def graded(name, tmp_path_factory):
    """One course per assignment, graded once for the module (tests/conftest.py keeps an
    assignment's tests on one pytest-xdist worker)."""
    if name not in _GRADED:
        course = make_course(tmp_path_factory.mktemp(f"cg-{name}"), [name])
        nbgrader(course, "generate_assignment", name, "--force")
        sol = solution_sources(name)
        first = next(iter(sol))
        warned = "import warnings\nwarnings.warn('a harmless warning', DeprecationWarning)\n" + sol[first]
        for student, answers in [("correct", sol), ("blank", {}), ("wrong", {**sol, **wrong_answers(name)}),
                                 ("warns", {**sol, first: warned})]:
            submit(course, name, student, answers)
        rows = autograde(course, name, Options(workers=2, cell_timeout=120, notebook_timeout=300,
                                               progress=False), log=lambda text: None)
        _GRADED[name] = course, {r["student"]: r for r in rows}
    return _GRADED[name]


@pytest.mark.parametrize("name", NAMES)
def test_right_blank_wrong(graded, name):
    _, r = graded
    total = r["correct"]["max_score"]
    assert all(r[s]["status"] == "graded" for s in r), {s: r[s]["problems"] for s in r}
    assert total >= 3 and r["correct"]["score"] == total, r["correct"]["tests"]
    assert r["blank"]["score"] == 0, r["blank"]["tests"]
    assert 0 < r["wrong"]["score"] < total, r["wrong"]["tests"]
    assert r["warns"]["score"] == total, r["warns"]["tests"]
    assert not [p for s in ("correct", "warns") for p in r[s]["problems"] if p["kind"] != "suspicious"]


@pytest.mark.parametrize("name", NAMES)
def test_feedback_shows_no_hidden_test(graded, name):
    course, r = graded
    secret = hidden_lines(name)
    for student in r:
        text = html.unescape((course / "feedback" / student / name / f"{name}.html").read_text())
        assert not [line for line in secret if line in text], f"{name}/{student} shows hidden tests"
