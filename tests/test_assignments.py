"""Every assignment, end to end through nbgrader in a temporary course directory.

For each assignment in solutions/: generate the student version, then autograde four simulated
students: the instructor's solution (full marks), the untouched release (zero), a submission that
passes the visible tests but is wrong in a way only hidden tests catch (partial; defined in
tests/wrong_answers/<name>.py), and a correct submission that prints a warning to stderr (full).
Feedback is generated and must not show hidden tests; the committed exercises/ must equal what
nbgrader generates now.
"""
import importlib.util
import json

import nbformat
import pytest

from course import ROOT, assignments, make_course, nbgrader, read_grades, solution_sources, submit

NAMES = assignments()


def wrong_answers(name):
    path = ROOT / "tests" / "wrong_answers" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"wrong_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.WRONG


def region_lines(name, region, min_len=20):
    """Non-trivial lines inside the ### BEGIN/END <region> blocks of the source notebook."""
    nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    lines, inside = set(), False
    for cell in nb.cells:
        for line in cell.source.splitlines():
            if f"BEGIN {region}" in line:
                inside = True
            elif f"END {region}" in line:
                inside = False
            elif inside and len(line.strip()) > min_len:
                lines.add(line.strip())
    return lines


def hidden_lines(name):
    return region_lines(name, "HIDDEN TESTS", min_len=25)


_GRADED = {}


@pytest.fixture
def graded(name, tmp_path_factory):
    """One course per assignment, graded once for the module (so assignments can run on
    different pytest-xdist workers: tests/conftest.py groups them by assignment)."""
    if name not in _GRADED:
        course = make_course(tmp_path_factory.mktemp(f"grading-{name}"), [name])
        nbgrader(course, "generate_assignment", name, "--force")
        sol = solution_sources(name)
        submit(course, name, "correct", sol)
        submit(course, name, "blank", {})
        submit(course, name, "wrong", {**sol, **wrong_answers(name)})
        first = next(iter(sol))
        warned = "import warnings\nwarnings.warn('a harmless warning', DeprecationWarning)\n" + sol[first]
        submit(course, name, "warns", {**sol, first: warned})
        nbgrader(course, "autograde", name, "--create")
        nbgrader(course, "generate_feedback", name)
        _GRADED[name] = course, read_grades(course)
    return _GRADED[name]


@pytest.mark.parametrize("name", NAMES)
def test_grades(graded, name):
    _, grades = graded
    score, total = grades[(name, "correct")]
    assert total >= 3 and score == total, f"correct solution: {score}/{total}"
    assert grades[(name, "blank")][0] == 0, "blank submission must score 0"
    wrong = grades[(name, "wrong")][0]
    assert 0 < wrong < total, f"wrong-in-a-hidden-way submission: {wrong}/{total}"
    assert grades[(name, "warns")][0] == total, "a warning on stderr must not cost points"


@pytest.mark.parametrize("name", NAMES)
def test_feedback_hides_hidden_tests(graded, name):
    course, _ = graded
    secret = hidden_lines(name)
    assert secret, "every assignment has hidden tests"
    for student in ["correct", "blank", "wrong", "warns"]:
        html = (course / "feedback" / student / name / f"{name}.html").read_text()
        assert "HIDDEN TESTS" not in html
        import html as _h
        text = _h.unescape(html)
        leaked = [l for l in secret if l in text]
        assert not leaked, f"feedback for {student} shows hidden test lines: {leaked[:3]}"


@pytest.mark.parametrize("name", NAMES)
def test_exercises_in_sync_and_clean(graded, name):
    course, _ = graded
    fresh = json.loads((course / "exercises" / name / f"{name}.ipynb").read_text())
    committed = json.loads((ROOT / "exercises" / name / f"{name}.ipynb").read_text())
    assert [c["source"] for c in committed["cells"]] == [c["source"] for c in fresh["cells"]], (
        f"exercises/{name} is out of date: run `make release A={name}`")
    text = json.dumps(committed)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    for line in hidden_lines(name):
        assert line not in text, f"hidden test line in exercises/{name}: {line}"
    for line in region_lines(name, "SOLUTION"):
        assert line not in text, f"solution line in exercises/{name}: {line}"
