"""Helpers for the grading tests: a throw-away nbgrader course and simulated submissions."""
import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


def assignments():
    """Names of the assignments in solutions/ (one folder each).

    COURSE_ASSIGNMENTS=ch04_backprop,ch05_training narrows a local run to those (CI sets nothing).
    """
    names = sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists())
    only = [n for n in os.environ.get("COURSE_ASSIGNMENTS", "").split(",") if n]
    unknown = set(only) - set(names)
    if unknown:
        raise ValueError(f"COURSE_ASSIGNMENTS names no assignment: {sorted(unknown)}")
    return [n for n in names if n in only] if only else names


def nbgrader(course, *args, timeout=900):
    """Run an nbgrader command inside `course`; return the CompletedProcess (raises on failure)."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, text=True,
                          capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_course(tmp, names):
    """A fresh course directory with the repo's nbgrader config and the given source assignments."""
    course = Path(tmp) / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    for name in names:
        shutil.copytree(ROOT / "solutions" / name, course / "solutions" / name)
    return course


def solution_sources(name):
    """grade_id -> source of each solution cell of the instructor's notebook, markers removed."""
    nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            out[meta["grade_id"]] = "\n".join(l for l in cell.source.splitlines() if not MARKER.match(l))
    return out


def submit(course, name, student, answers):
    """Write a submission: the released notebook with solution cells replaced by `answers`.

    answers: grade_id -> source; cells not in `answers` stay as released (blank).
    """
    nb = nbformat.read(course / "exercises" / name / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    dest = course / "submitted" / student / name
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest / f"{name}.ipynb")


def read_grades(course):
    """Export the gradebook to CSV and return {(assignment, student): (score, max_score)}."""
    nbgrader(course, "export", "--to", "grades.csv")
    with open(course / "grades.csv") as f:
        return {(r["assignment"], r["student_id"]): (float(r["score"]), float(r["max_score"]))
                for r in csv.DictReader(f)}
