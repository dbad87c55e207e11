"""coursegrade.lms (Canvas, Moodle CSV exporters) and coursegrade.late (late penalty
policy).

A small synthetic nbgrader gradebook (two assignments, four students: full marks,
partial and late, missing, hostile name), exported through `nbgrader export --exporter
...` itself.
"""

import csv
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.preprocessors import AssignLatePenalties
from traitlets.config import Config

from coursegrade.late import PerDayLatePenalty

DUE = datetime.datetime(2026, 10, 1, 23, 59)
CELLS = {"ch01_linear": {"test_a": 3, "test_b": 5}, "ch02_losses": {"test_c": 10}}
# student -> assignment -> (points per cell, hours late); absent: no submission
SUBMISSIONS = {
    "alice": {
        "ch01_linear": ({"test_a": 3, "test_b": 5}, 0),
        "ch02_losses": ({"test_c": 10}, 0),
    },
    "bob": {
        "ch01_linear": ({"test_a": 3, "test_b": 0}, 30),
        "ch02_losses": ({"test_c": 7}, 0.1),
    },
    "carol": {"ch01_linear": ({"test_a": 0, "test_b": 2}, 24 * 9)},
    "=cmd|x": {"ch02_losses": ({"test_c": 5}, 0)},
}
NAMES = {
    "alice": ("Alice", "Able", "alice@example.edu"),
    "bob": ("Bob", "Bunce", None),
    "carol": ("Carol", "Chen", "carol@example.edu"),
    "=cmd|x": ("Eve", "=HYPERLINK(1)", None),
}


def late_config():
    c = Config()
    c.AssignLatePenalties.plugin_class = "coursegrade.late.PerDayLatePenalty"
    return c


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # nbgrader runs `alembic` from the PATH
        mp.setenv(
            "PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        )
        yield make_gradebook(tmp_path_factory.mktemp("lms"))


def make_gradebook(course):
    """course/gradebook.db (built once per process, then copied: creating one takes
    seconds)
    and an nbgrader_config.py pointing at it."""
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = Path(tempfile.mkdtemp(prefix="lms-gradebook-")) / "gradebook.db"
        _build_gradebook(f"sqlite:///{_TEMPLATE}")
    url = f"sqlite:///{course}/gradebook.db"
    shutil.copy(_TEMPLATE, course / "gradebook.db")
    (course / "nbgrader_config.py").write_text(
        f'c = get_config()\nc.CourseDirectory.db_url = "{url}"\n'
        'c.CourseDirectory.course_id = "nn-course"\n'
    )
    return course


_TEMPLATE = None


def _build_gradebook(url):
    with Gradebook(url, "nn-course") as gb:
        for name, cells in CELLS.items():
            gb.update_or_create_assignment(name, duedate=DUE)
            gb.add_notebook(name, name)
            for cell, points in cells.items():
                gb.add_grade_cell(cell, name, name, max_score=points, cell_type="code")
        for sid, (first, last, email) in NAMES.items():
            gb.add_student(sid, first_name=first, last_name=last, email=email)
        for sid, subs in SUBMISSIONS.items():
            for a, (points, hours) in subs.items():
                gb.add_submission(
                    a, sid, timestamp=DUE + datetime.timedelta(hours=hours)
                )
                for cell, p in points.items():
                    grade = gb.find_grade(cell, a, a, sid)
                    grade.auto_score, grade.needs_manual_grade = p, False
                gb.db.commit()
    for (
        sid,
        subs,
    ) in SUBMISSIONS.items():  # nbgrader's own late-penalty step, our plugin
        for a in subs:
            AssignLatePenalties(config=late_config()).preprocess(
                nbformat.v4.new_notebook(),
                {
                    "nbgrader": {
                        "notebook": a,
                        "assignment": a,
                        "student": sid,
                        "db_url": url,
                    }
                },
            )


def export(course, exporter, *args):
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "nbgrader"),
            "export",
            "--exporter",
            f"coursegrade.lms.{exporter}",
            *args,
        ],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_late_policy():
    p = PerDayLatePenalty()
    assert p.late_submission_penalty("s", 8.0, 10 * 60) == 0.0  # within the grace
    assert p.late_submission_penalty("s", 8.0, 3600) == pytest.approx(
        0.8
    )  # day 1: 10 %
    assert p.late_submission_penalty("s", 8.0, 30 * 3600) == pytest.approx(1.6)  # day 2
    assert p.late_submission_penalty("s", 8.0, 6 * 86400) == 8.0  # past 5 days: zero
    p.percent_per_day = 150
    with pytest.raises(ValueError, match="percent_per_day"):
        p.late_submission_penalty("s", 8.0, 3600)


def test_canvas_csv_through_nbgrader_export(course):
    out = export(course, "CanvasExporter", "--to", "canvas.csv")
    assert out.returncode == 0, out.stderr
    rows = read(course / "canvas.csv")
    assert rows[0] == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        "ch01_linear",
        "ch02_losses",
    ]
    assert rows[1] == ["    Points Possible", "", "", "", "", "8", "10"]
    by_id = {r[2]: r for r in rows[2:]}
    assert set(by_id) == {"alice", "bob", "carol", "'=cmd|x"}
    assert by_id["alice"][0] == "Able, Alice" and by_id["alice"][5:] == ["8", "10"]
    # bob: 3/8, 30 h late (day 2: 20 % off) -> 2.4; 6 min late on ch02: within the grace
    assert by_id["bob"][5:] == ["2.4", "7"]
    assert by_id["carol"][5:] == ["0", "0"]  # 9 days late -> 0; ch02 missing -> 0
    assert (
        by_id["'=cmd|x"][0] == "'=HYPERLINK(1), Eve"
    )  # no formula reaches the spreadsheet
    assert all(len(r) == len(rows[0]) for r in rows)


def test_canvas_roster_columns_and_blank_missing(course, tmp_path):
    from coursegrade.lms import CanvasExporter

    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,ID,SIS Login ID,Section\nalice,1001,aable,Lab A\n")
    exporter = CanvasExporter(
        to=str(tmp_path / "c.csv"),
        roster=str(roster),
        missing="blank",
        columns={"ch02_losses": "Exercise 2 (5678)"},
        assignment=["ch02_losses"],
    )
    with Gradebook(f"sqlite:///{course}/gradebook.db", "nn-course") as gb:
        exporter.export(gb)
        rows = read(tmp_path / "c.csv")
        assert rows[0][5:] == ["Exercise 2 (5678)"]
        by_id = {r[2]: r for r in rows[2:]}
        assert by_id["alice"][:5] == ["Able, Alice", "1001", "alice", "aable", "Lab A"]
        assert by_id["carol"][5] == ""  # no submission: Canvas keeps its grade
        roster.write_text("student,ID\nalice,1\n")
        with pytest.raises(ValueError, match="no student_id column"):
            exporter.export(gb)
        roster.write_text("student_id,Grade\nalice,1\n")
        with pytest.raises(ValueError, match="unknown columns"):
            exporter.export(gb)
        exporter.roster = str(tmp_path / "absent.csv")
        with pytest.raises(ValueError, match="does not exist"):
            exporter.export(gb)


def test_moodle_csv(course, tmp_path):
    from coursegrade.lms import MoodleExporter

    dest = tmp_path / "moodle.csv"
    url = f"sqlite:///{course}/gradebook.db"
    exporter = MoodleExporter(to=str(dest))
    with Gradebook(url, "nn-course") as gb:
        exporter.export(gb)
    rows = read(dest)
    assert rows[0] == [
        "First name",
        "Surname",
        "ID number",
        "Institution",
        "Department",
        "Email address",
        "ch01_linear",
        "ch02_losses",
    ]
    by_id = {r[2]: r for r in rows[1:]}
    assert by_id["alice"] == [
        "Alice",
        "Able",
        "alice",
        "",
        "",
        "alice@example.edu",
        "8",
        "10",
    ]
    assert by_id["bob"][6:] == ["2.4", "7"]
    assert all(len(r) == len(rows[0]) for r in rows)  # Moodle refuses ragged rows
    for r in rows[1:]:  # every grade is a number Moodle reads
        for v in r[6:]:
            float(v)
    exporter.assignment = ["nope"]
    with (
        Gradebook(url, "nn-course") as gb,
        pytest.raises(ValueError, match="no such assignment"),
    ):
        exporter.export(gb)


def test_postgresql_gradebook(tmp_path, monkeypatch):
    """The same exports and term matrix from a PostgreSQL gradebook (`--db-url`)."""
    from coursegrade.lms import CanvasExporter
    from coursegrade.report import write_term
    from grading_corpus.postgres import ServerUnavailable, postgres_server

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    try:
        server = postgres_server()
        url = server.__enter__()
    except ServerUnavailable as e:
        pytest.skip(f"PostgreSQL server could not start: {e}")
    try:
        _build_gradebook(url)
        with Gradebook(url, "nn-course") as gb:
            CanvasExporter(to=str(tmp_path / "pg.csv")).export(gb)
        by_id = {r[2]: r for r in read(tmp_path / "pg.csv")[2:]}
        assert by_id["alice"][5:] == ["8", "10"] and by_id["bob"][5:] == ["2.4", "7"]
        text = write_term(tmp_path, db_url=url)[2]
        assert "missing: 2: =cmd|x/ch01_linear, carol/ch02_losses" in text
    finally:
        server.__exit__(None, None, None)
