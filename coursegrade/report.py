"""The instructor's class report: one self-contained HTML page per assignment, and the
term.

    python -m coursegrade report ch01_linear      # grading/ch01_linear/report.html
    python -m coursegrade stats                   # grading/term.csv, grading/term.html

`report.html` opens from grading/<A>/ with no network: the plots (matplotlib) are PNGs
inlined as data: URIs, the sorting script is inline, and a Content-Security-Policy
forbids any fetch. It shows the score distribution, every test's pass rate with its task
and points (the tests the class fails most first), the time per submission, problems by
kind and a per-student table linking to each student's feedback page. It is built from
grading/<A>/results/*.json (written by `coursegrade autograde`) and the assignment's
source notebook, from which it takes each test's grade_id, points and task heading only:
never a test's source, never an error message (the page links to feedback, which has
hidden tests removed, instead).

`stats` reads the gradebook (nbgrader's: SQLite by default, PostgreSQL with --db-url)
and every assignment's results, and writes the student x assignment matrix of the term
with who has missing or failed grades.
"""

import argparse
import base64
import csv
import html
import io
import json
import os
import statistics
import sys
import urllib.parse
from pathlib import Path

import nbformat

CATEGORY = {
    "timeout": "timeout",
    "kernel": "crash",
    "memory": "crash",
    "quota": "crash",
    "output": "crash",
    "suspicious": "tampering",
    "edited-cell": "tampering",
    "deleted-cell": "tampering",
    "edited-metadata": "tampering",
    "duplicate-cell": "tampering",
    "symlink": "tampering",
    "hardlink": "tampering",
    "special-file": "tampering",
    "corrupt": "unusable submission",
    "missing": "unusable submission",
    "grader": "grading failed",
    "feedback": "grading failed",
    "manual": "needs manual grading",
}


def status(r):
    if r["status"] == "graded":
        return "flagged" if r.get("problems") else "ok"
    return r["status"]


def printable(text):
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
        for c in str(text)
    )


def esc(text):
    return html.escape(printable(text))


def test_cells(source_dir):
    """[{notebook, grade_id, points, task}] of every autograded test cell, in order.

    task: the heading of the nearest markdown cell above the test (else the solution
    cell above).
    """
    out = []
    for path in sorted(Path(source_dir).glob("*.ipynb")):
        task = None
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "markdown":
                heading = next(
                    (
                        line.lstrip("#").strip()
                        for line in cell.source.splitlines()
                        if line.startswith("#")
                    ),
                    None,
                )
                task = heading or task
            elif meta.get("solution") and not task:
                task = meta.get("grade_id")
            if (
                cell.cell_type == "code"
                and meta.get("grade")
                and not meta.get("solution")
            ):
                out.append(
                    {
                        "notebook": path.stem,
                        "grade_id": meta["grade_id"],
                        "points": float(meta.get("points", 0)),
                        "task": task or "",
                    }
                )
    return out


def load_rows(out):
    """Result rows from grading/<A>/: results/*.json, and grades.csv's missing ones."""
    out = Path(out)
    rows = {}
    for path in sorted((out / "results").glob("*.json")):
        r = json.loads(path.read_text())
        r.setdefault("student", path.stem)
        rows[r["student"]] = r
    csv_path = out / "grades.csv"
    if csv_path.exists():
        with open(csv_path, newline="") as f:
            for line in csv.DictReader(f):
                if line["status"] == "missing" and line["student_id"] not in rows:
                    rows[line["student_id"]] = {
                        "student": line["student_id"],
                        "status": "missing",
                        "score": 0.0,
                        "max_score": None,
                        "seconds": 0,
                        "tests": {},
                        "problems": [
                            {"kind": "missing", "cell": None, "detail": "no submission"}
                        ],
                    }
    if not rows:
        raise FileNotFoundError(
            f"no results in {out / 'results'}: run `coursegrade autograde` first"
        )
    return [rows[s] for s in sorted(rows)]


def pass_rates(rows, tests):
    graded = [r for r in rows if r["status"] == "graded"]
    out = []
    for t in tests:
        passed = sum(
            bool(r.get("tests", {}).get(t["grade_id"], {}).get("passed"))
            for r in graded
        )
        out.append(
            {
                **t,
                "passed": passed,
                "graded": len(graded),
                "rate": passed / len(graded) if graded else None,
            }
        )
    return sorted(
        out, key=lambda t: (1 if t["rate"] is None else t["rate"], t["grade_id"])
    )


def problem_counts(rows):
    kinds = {}
    for r in rows:
        for kind in sorted({p["kind"] for p in r.get("problems", [])}):
            kinds.setdefault(kind, []).append(r["student"])
        if r["status"] == "failed" and not any(
            p["kind"] == "grader" for p in r["problems"]
        ):
            kinds.setdefault("grader", []).append(r["student"])
    return sorted(kinds.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def plots(rows, rates):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    imgs = {}
    scored = [
        r
        for r in rows
        if r["status"] in ("graded", "missing") and r.get("score") is not None
    ]
    top = max(
        [r.get("max_score") or 0 for r in rows] + [r["score"] for r in scored] + [1]
    )
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    bins = [x - 0.5 for x in range(int(top) + 2)] if top <= 40 else 20
    ax.hist([r["score"] for r in scored], bins=bins, color="#4477aa", edgecolor="white")
    ax.set_xlabel(f"score (out of {top:g})")
    ax.set_ylabel("students")
    ax.set_title(f"Score distribution ({len(scored)} students, missing count as 0)")
    fig.tight_layout()
    imgs["scores"] = _png(fig)

    secs = [
        r["seconds"]
        for r in rows
        if r["status"] != "missing" and r.get("seconds") is not None
    ]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.hist(secs or [0], bins=20, color="#228833", edgecolor="white")
    ax.set_xlabel("grading time per submission (s)")
    ax.set_ylabel("submissions")
    ax.set_title("Time per submission")
    fig.tight_layout()
    imgs["time"] = _png(fig)

    shown = [t for t in rates if t["rate"] is not None]
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.32 * max(1, len(shown))))
    ax.barh(
        [t["grade_id"] for t in shown][::-1],
        [100 * t["rate"] for t in shown][::-1],
        color="#cc6677",
    )
    ax.set_xlim(0, 100)
    ax.set_xlabel("students passing (%)")
    ax.set_title("Pass rate per test (worst at the top)")
    fig.tight_layout()
    imgs["tests"] = _png(fig)
    return imgs


SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.tabIndex = 0;
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) {
        h.removeAttribute("aria-sort");
      });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var key = function (row) {
        var cell = row.cells[col];
        var v = cell.getAttribute("data-v");
        return v === null ? cell.textContent.trim().toLowerCase() : parseFloat(v);
      };
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var numeric = typeof x === "number" && typeof y === "number";
        var c = numeric ? x - y : (x < y ? -1 : x > y ? 1 : 0);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; max-width: 72em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #eee; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
.failed, .missing { background: #fde0e0; } .flagged { background: #fff4d6; }
img { max-width: 100%; }
"""

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'"
)


def _table(cls, headers, rows):
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "\n".join(rows)
    return (
        f'<table class="sortable {cls}"><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table>"
    )


def _num(value, text=None):
    if value is None:
        return f'<td class="n" data-v="-1">{text or "-"}</td>'
    shown = text if text is not None else f"{value:g}"
    return f'<td class="n" data-v="{float(value):.6g}">{shown}</td>'


def page(title, body):
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>\n{body}\n"
        f"<script>{SORT_JS}</script>\n</body></html>\n"
    )


def render(assignment, rows, tests, summary=None, feedback_links=None):
    """The report page's HTML. feedback_links: {student: relative URL of the page}."""
    feedback_links = feedback_links or {}
    rates = pass_rates(rows, tests)
    imgs = plots(rows, rates)
    counts = {}
    for r in rows:
        counts[status(r)] = counts.get(status(r), 0) + 1
    scored = [
        r["score"]
        for r in rows
        if r["status"] == "graded" and r.get("score") is not None
    ]
    secs = [
        r["seconds"]
        for r in rows
        if r["status"] != "missing" and r.get("seconds") is not None
    ]
    total = max(
        [r.get("max_score") or 0 for r in rows] + [sum(t["points"] for t in tests)]
    )
    facts = [
        f"{len(rows)} students: "
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    ]
    if scored:
        facts.append(
            f"score of graded submissions: mean {statistics.mean(scored):.2f}, "
            f"median {statistics.median(scored):g} of {total:g}"
        )
    if secs:
        q = statistics.quantiles(secs, n=10)[-1] if len(secs) > 1 else secs[0]
        facts.append(
            f"grading time: median {statistics.median(secs):.1f} s, 90th percentile "
            f"{q:.1f} s, max {max(secs):.1f} s per submission"
        )
    if summary:
        facts.append(
            f"last run: {summary.get('graded_now', 0)} graded in "
            f"{summary.get('wall_seconds', 0)} s with "
            f"workers={esc(summary.get('workers'))}, "
            f"sandbox={esc(summary.get('sandbox'))}"
        )

    test_rows = [
        f"<tr><td>{esc(t['grade_id'])}</td><td>{esc(t['task'])}</td>{_num(t['points'])}"
        + _num(
            None if t["rate"] is None else 100 * t["rate"],
            "-" if t["rate"] is None else f"{100 * t['rate']:.0f}%",
        )
        + f'{_num(t["passed"])}{_num(t["graded"])}</tr>'
        for t in rates
    ]
    problem_rows = []
    for kind, students in problem_counts(rows):
        names = ", ".join(esc(s) for s in students[:8]) + (
            " ..." if len(students) > 8 else ""
        )
        problem_rows.append(
            f"<tr><td>{esc(kind)}</td><td>{esc(CATEGORY.get(kind, 'other'))}</td>"
            f"{_num(len(students))}<td>{names}</td></tr>"
        )
    student_rows = []
    for r in rows:
        st = status(r)
        failed_tests = sorted(
            g for g, t in r.get("tests", {}).items() if not t.get("passed")
        )
        kinds = sorted({p["kind"] for p in r.get("problems", [])})
        link = feedback_links.get(r["student"])
        fb = f'<a href="{html.escape(link)}">feedback</a>' if link else "-"
        score = None if r["status"] == "failed" else r.get("score")
        student_rows.append(
            f'<tr class="{st}"><td>{esc(r["student"])}</td>'
            + _num(score, "FAILED" if score is None and st == "failed" else None)
            + _num(
                r.get("seconds"),
                None if r.get("seconds") is None else f"{r['seconds']:.1f}",
            )
            + f"<td>{st}</td><td>{esc(', '.join(kinds))}</td>"
            f"<td>{esc(', '.join(failed_tests))}</td><td>{fb}</td></tr>"
        )

    body = f"""<h1>Class report: {esc(assignment)}</h1>
<ul>{''.join(f'<li>{f}</li>' for f in facts)}</ul>
<h2 id="scores">Score distribution</h2>
<img id="img-scores" src="{imgs['scores']}" alt="Histogram of the students' scores">
<h2 id="tests">Tests, the ones the class fails most first</h2>
<p>Pass rate among graded submissions. Test source and error messages are not shown here
(they may be hidden tests); each student's feedback page shows what they may see.</p>
<img id="img-tests" src="{imgs['tests']}" alt="Bar chart: pass rate of each test">
{_table("tests", ["test", "task", "points", "pass rate", "passed", "graded"],
        test_rows)}
<h2 id="time">Time per submission</h2>
<img id="img-time" src="{imgs['time']}" alt="Histogram of grading time per submission">
<h2 id="problems">Problems by kind</h2>
{_table("problems", ["kind", "category", "submissions", "students"], problem_rows)
 if problem_rows else "<p>No problems reported.</p>"}
<h2 id="students">Students</h2>
<p>Click a column header to sort. Details of every problem: report.txt and
results/&lt;student&gt;.json.</p>
{_table("students", ["student", "score", "seconds", "status", "problems",
                     "failed tests", "feedback"], student_rows)}"""
    return page(f"Class report: {assignment}", body)


def feedback_for(course, assignment, students, out, feedback_dir="feedback"):
    links = {}
    for s in students:
        folder = Path(course) / feedback_dir / s / assignment
        pages = sorted(folder.glob("*.html")) if folder.is_dir() else []
        if pages:
            links[s] = urllib.parse.quote(os.path.relpath(pages[0], out))
    return links


def build(course, assignment, rows=None, out=None, source_dir=None):
    """Write grading/<A>/report.html; returns its path."""
    course = Path(course)
    out = Path(out or course / "grading" / assignment)
    rows = rows if rows is not None else load_rows(out)
    source_dir = Path(
        source_dir
        or course / _config_dir(course, "source_directory", "source") / assignment
    )
    tests = test_cells(source_dir)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    links = feedback_for(
        course,
        assignment,
        [r["student"] for r in rows],
        out,
        _config_dir(course, "feedback_directory", "feedback"),
    )
    path = out / "report.html"
    tmp = out / "report.html.tmp"
    tmp.write_text(render(assignment, rows, tests, summary, links))
    os.replace(tmp, path)
    return path


def course_config(course):
    """The course's nbgrader_config.py (no coursegrade overrides: nothing runs here)."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    if (Path(course) / "nbgrader_config.py").exists():
        return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return Config()


def _config_dir(course, name, default):
    """A CourseDirectory folder setting of the course's config (e.g. solutions/)."""
    return course_config(course).CourseDirectory.get(name) or default


def gradebook_url(course, db_url=None):
    """--db-url, else the course's (a relative SQLite path: relative to the course)."""
    url = (
        db_url
        or course_config(course).CourseDirectory.get("db_url")
        or f"sqlite:///{Path(course).resolve()}/gradebook.db"
    )
    if url.startswith("sqlite:///") and not os.path.isabs(url[len("sqlite:///") :]):
        url = f"sqlite:///{Path(course).resolve() / url[len('sqlite:///'):]}"
    return url


# ---- the term: student x assignment -----------------------------------------------


def term_matrix(course, db_url=None):
    """(assignments, {student: {assignment: cell}}), cell = {"score", "max", "state"}.

    state: "graded", "missing" (no grade in the gradebook) or "failed" (coursegrade
    could not grade it: the gradebook then holds no grade for it either); "manual":
    needs manual grading.
    """
    from nbgrader.api import Gradebook, MissingEntry

    matrix, names = {}, []
    course_id = course_config(course).CourseDirectory.get("course_id", "")
    url = gradebook_url(course, db_url)
    path = (
        url[len("sqlite:///") :].split("?")[0] if url.startswith("sqlite:///") else None
    )
    if path and not Path(path).is_file():  # nbgrader would create an empty one
        raise FileNotFoundError(f"no gradebook at {path}")
    with Gradebook(url, course_id) as gb:
        assignments = sorted(
            gb.assignments, key=lambda a: (a.duedate is None, a.duedate, a.name)
        )
        names = [a.name for a in assignments]
        for student in gb.students:
            row = matrix.setdefault(student.id, {})
            for a in assignments:
                try:
                    sub = gb.find_submission(a.name, student.id)
                except MissingEntry:
                    row[a.name] = {
                        "score": None,
                        "max": a.max_score,
                        "state": "missing",
                    }
                    continue
                penalty = sub.late_submission_penalty or 0.0
                row[a.name] = {
                    "score": max(0.0, sub.score - penalty),
                    "max": a.max_score,
                    "state": "manual" if sub.needs_manual_grade else "graded",
                }
    for a in names:
        for path in sorted((Path(course) / "grading" / a / "results").glob("*.json")):
            r = json.loads(path.read_text())
            if r.get("status") == "failed":
                cell = matrix.setdefault(r.get("student", path.stem), {}).setdefault(
                    a, {}
                )
                cell.update(score=None, state="failed")
    return names, matrix


def write_term(course, db_url=None, out=None):
    """grading/term.csv and term.html; returns (csv path, html path, text summary)."""
    names, matrix = term_matrix(course, db_url)
    out = Path(out or Path(course) / "grading")
    out.mkdir(parents=True, exist_ok=True)
    students = sorted(matrix)
    with open(out / "term.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id"] + names + ["total", "missing", "failed"])
        for s in students:
            cells = [
                matrix[s].get(a, {"score": None, "state": "missing"}) for a in names
            ]
            w.writerow(
                [_csv_safe(s)]
                + [
                    c["state"] if c["score"] is None else f"{c['score']:g}"
                    for c in cells
                ]
                + [
                    f"{sum(c['score'] or 0 for c in cells):g}",
                    sum(c["state"] == "missing" for c in cells),
                    sum(c["state"] == "failed" for c in cells),
                ]
            )
    lines = []
    for state in ("missing", "failed", "manual"):
        who = [
            (s, a)
            for s in students
            for a in names
            if matrix[s].get(a, {"state": "missing"})["state"] == state
        ]
        lines.append(
            f"{state}: {len(who)}"
            + (
                ": "
                + ", ".join(f"{printable(s)}/{a}" for s, a in who[:30])
                + (" ..." if len(who) > 30 else "")
                if who
                else ""
            )
        )
    rows = []
    for s in students:
        tds, total = [], 0.0
        for a in names:
            c = matrix[s].get(a, {"score": None, "state": "missing"})
            total += c["score"] or 0
            if c["score"] is None:
                tds.append(f'<td class="n {c["state"]}" data-v="-1">{c["state"]}</td>')
            else:
                tds.append(
                    _num(c["score"]).replace('class="n"', f'class="n {c["state"]}"')
                )
        rows.append(f"<tr><td>{esc(s)}</td>{''.join(tds)}{_num(total)}</tr>")
    body = (
        f"<h1>Term: {len(students)} students x {len(names)} assignments</h1>"
        f"<ul>{''.join(f'<li>{esc(line)}</li>' for line in lines)}</ul>"
        + _table("term", ["student"] + [esc(a) for a in names] + ["total"], rows)
    )
    (out / "term.html").write_text(page("Term grades", body))
    return out / "term.csv", out / "term.html", "\n".join(lines)


def _csv_safe(text):
    text = printable(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def main_report(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m coursegrade report",
        description="write grading/ASSIGNMENT/report.html",
    )
    ap.add_argument("assignment")
    ap.add_argument("--course", default=".")
    ap.add_argument("--out", help="results folder (default: COURSE/grading/ASSIGNMENT)")
    args = ap.parse_args(argv)
    try:
        path = build(args.course, args.assignment, out=args.out)
    except FileNotFoundError as e:
        print(f"coursegrade report: {e}", file=sys.stderr)
        return 2
    print(f"class report: {os.path.relpath(path)}")
    return 0


def main_stats(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m coursegrade stats",
        description="the term's student x assignment matrix",
    )
    ap.add_argument("--course", default=".")
    ap.add_argument("--db-url", help="gradebook URL (default: the course config's)")
    ap.add_argument(
        "--out", help="folder for term.csv and term.html (default COURSE/grading)"
    )
    args = ap.parse_args(argv)
    try:
        csv_path, html_path, text = write_term(args.course, args.db_url, args.out)
    except Exception as e:  # no gradebook, a wrong URL...
        print(f"coursegrade stats: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(text)
    print(f"term matrix: {os.path.relpath(csv_path)}, {os.path.relpath(html_path)}")
    return 0
