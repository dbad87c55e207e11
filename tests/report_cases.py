"""Synthetic grading results for the class report (tests and
benchmarks/bench_report.py).

`write_results(course, n)` writes what `coursegrade autograde ch01_linear` leaves in
grading/ch01_linear/ (results/<student>.json, grades.csv, summary.json) for n students,
cycling through outcomes of tests/grading_corpus (correct, partly wrong, blank, timeout,
corrupt, tampering, a failed grading, no submission), with feedback pages for the graded
ones, and the corpus' source notebook in solutions/. No notebook is executed: the report
only reads results.
"""

import csv
import json
import random
import shutil
from pathlib import Path

from grading_corpus import NAME, ROOT, SOURCE

TESTS = {"test_linear_scores": 3, "test_bias_trick": 2, "test_network_forward": 3}

OUTCOMES = [  # (kind, tests passed, problems, status)
    ("correct", set(TESTS), [], "graded"),
    ("partial", {"test_linear_scores", "test_bias_trick"}, [], "graded"),
    ("correct", set(TESTS), [], "graded"),
    ("blank", set(), [], "graded"),
    (
        "loop",
        {"test_linear_scores", "test_bias_trick"},
        [
            {
                "kind": "timeout",
                "cell": "network_forward",
                "detail": "timed out after 60 s",
            }
        ],
        "graded",
    ),
    (
        "corrupt",
        None,
        [{"kind": "corrupt", "cell": None, "detail": "not valid JSON"}],
        "graded",
    ),
    (
        "patched",
        {"test_bias_trick", "test_network_forward"},
        [
            {
                "kind": "suspicious",
                "cell": "linear_scores",
                "detail": "assigns np.allclose",
            }
        ],
        "graded",
    ),
    (
        "crashed",
        {"test_linear_scores", "test_network_forward"},
        [{"kind": "memory", "cell": "bias_trick", "detail": "MemoryError"}],
        "graded",
    ),
    (
        "lost",
        None,
        [{"kind": "grader", "cell": None, "detail": "worker lost"}],
        "failed",
    ),
    (
        "absent",
        None,
        [{"kind": "missing", "cell": None, "detail": "no submission"}],
        "missing",
    ),
]


def result(student, outcome, rng):
    kind, passed, problems, status = outcome
    tests = (
        {}
        if passed is None
        else {
            g: {
                "passed": g in passed,
                "part": None if g in passed else "hidden",
                "error": (
                    None if g in passed else "AssertionError: secret hidden message"
                ),
            }
            for g in TESTS
        }
    )
    score = sum(TESTS[g] for g in passed or ())
    r = {
        "student": student,
        "assignment": NAME,
        "status": status,
        "problems": problems,
        "tests": tests,
        "score": None if status == "failed" else float(score),
        "max_score": None if status != "graded" else 8.0,
        "seconds": 0 if status == "missing" else round(rng.uniform(3, 20), 2),
    }
    if kind == "loop":
        r["seconds"] = 65.0
    return r


def write_results(course, n, seed=0, names=None):
    """n students in course/grading/ch01_linear; returns the list of result rows."""
    course = Path(course)
    rng = random.Random(seed)
    (course / "solutions" / NAME).mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copy(SOURCE, course / "solutions" / NAME)
    out = course / "grading" / NAME
    (out / "results").mkdir(parents=True, exist_ok=True)
    names = names or [f"s{i:04d}" for i in range(n)]
    rows = []
    for i, student in enumerate(names):
        r = result(student, OUTCOMES[i % len(OUTCOMES)], rng)
        rows.append(r)
        if r["status"] != "missing":
            (out / "results" / f"{student}.json").write_text(json.dumps(r))
        if r["status"] == "graded":
            fb = course / "feedback" / student / NAME
            fb.mkdir(parents=True, exist_ok=True)
            (fb / f"{NAME}.html").write_text(
                f"<html><body>feedback for {student}</body></html>"
            )
    with open(out / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "student_id",
                "assignment",
                "score",
                "max_score",
                "status",
                "seconds",
                "problems",
            ]
        )
        for r in rows:
            w.writerow(
                [
                    r["student"],
                    NAME,
                    r["score"],
                    r["max_score"],
                    r["status"],
                    r["seconds"],
                    "",
                ]
            )
    (out / "summary.json").write_text(
        json.dumps(
            {
                "assignment": NAME,
                "graded_now": n,
                "reused": 0,
                "wall_seconds": 12.5,
                "calibration_seconds": 3.0,
                "workers": 2,
                "sandbox": "bwrap",
                "calibration": {"tests": list(TESTS)},
            }
        )
    )
    return rows
