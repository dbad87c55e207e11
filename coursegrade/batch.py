"""Autograde a whole class: calibrate, grade in parallel, resume, report, write grades.csv.

    results = autograde(course, "ch01_linear", Options(workers=4))

1. Calibration: the instructor's solution notebook runs through the same sandbox and trusted
   runner as every submission. Every test must pass (else the batch stops before grading anyone:
   the assignment or the limits are wrong), and the configuration must use the sandboxed
   execution step (coursegrade.worker.check_execution_steps).
2. Every submission in submitted/<student>/<assignment>/ is one task (coursegrade.worker.grade_one)
   on a local thread pool (each task is a process of its own) or on a Dask cluster.
3. Each result is saved as grading/<assignment>/results/<student>.json when it is final. Running
   the command again skips submissions whose files, assignment and settings are unchanged and
   whose last grading did not fail, so an interrupted batch resumes where it stopped.
4. grading/<assignment>/grades.csv and report.txt list every student: score, time, problems.
"""
import csv
import glob
import hashlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm import tqdm

from coursegrade.sandbox import Sandbox
from coursegrade.worker import VERSION, digest_dir, grade_one, load_config, stop_forkserver


class CalibrationError(RuntimeError):
    pass


@dataclass
class Options:
    workers: int = os.cpu_count() or 1
    cell_timeout: int = 60
    notebook_timeout: int = 600
    memory: int = 2 * 2**30
    sandbox: str = "auto"
    db_url: str = None
    scheduler: object = None           # Dask scheduler address, or a distributed.Client
    students: list = None              # grade only these
    force: bool = False                # re-grade even unchanged submissions
    feedback: bool = True
    out: str = None                    # default: <course>/grading/<assignment>
    hide: list = field(default_factory=list)
    expose: list = field(default_factory=list)
    progress: bool = True


def _job_options(course, opts):
    return {"course": str(course), "cell_timeout": opts.cell_timeout, "notebook_timeout": opts.notebook_timeout,
            "memory": opts.memory, "sandbox": Sandbox(opts.sandbox).resolved_mode(), "db_url": opts.db_url,
            "hide": opts.hide, "expose": opts.expose, "feedback": opts.feedback}


def source_folder(course, assignment, cfg):
    from nbgrader.coursedir import CourseDirectory
    coursedir = CourseDirectory(config=cfg, root=str(course))
    return Path(coursedir.format_path(coursedir.source_directory, ".", assignment))


def calibrate(course, assignment, opts):
    """Run the instructor's notebooks like a submission. Returns {"tests": [...], "seconds": {...}}."""
    from coursegrade.execute import SandboxedExecute
    cfg = load_config(course, _job_options(course, opts))
    source = source_folder(course, assignment, cfg)
    notebooks = sorted(source.glob("*.ipynb"))
    if not notebooks:
        raise CalibrationError(f"no notebooks in {source}")
    tests = []
    for path in notebooks:
        work = Path(tempfile.mkdtemp(prefix="cg-cal-"))
        try:
            shutil.copytree(source, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.ipynb"))
            cfg.SandboxedExecute.source_dir = str(source)
            ep = SandboxedExecute(config=cfg)
            _, res = ep.preprocess(nbformat.read(path, as_version=4),
                                   {"metadata": {"path": str(work)}, "unique_key": path.stem})
        finally:
            shutil.rmtree(work, ignore_errors=True)
        report = res["coursegrade"]
        for gid, t in report["tests"].items():
            if not t["passed"]:
                raise CalibrationError(f"the instructor's solution fails {path.name}:{gid} in the sandbox "
                                       f"({t['error']}); fix the assignment or raise the limits")
            tests.append(gid)
        kernel = [p for p in report["problems"] if p["kind"] in ("timeout", "kernel", "grader", "quota")]
        if kernel:
            raise CalibrationError(f"the instructor's solution {path.name} does not run cleanly: "
                                   + "; ".join(f"{p['kind']} [{p['cell']}]: {p['detail']}" for p in kernel))
    return {"tests": tests}


def settings_digest(source, job_opts, calibration):
    data = {"version": VERSION, "source": digest_dir(source),
            "calibration": calibration, **{k: job_opts[k] for k in
                                           ("cell_timeout", "notebook_timeout", "memory", "sandbox", "db_url")}}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _executor(opts):
    if opts.scheduler is None:
        return ThreadPoolExecutor(max_workers=max(1, opts.workers)), None
    from distributed import Client
    client = opts.scheduler if isinstance(opts.scheduler, Client) else Client(opts.scheduler)
    return client.get_executor(pure=False), (None if client is opts.scheduler else client)


def autograde(course, assignment, opts=None, log=print):
    """Grade every submission of `assignment` in `course`; return the list of result dicts."""
    opts = opts or Options()
    course = Path(course).resolve()
    cfg = load_config(course, _job_options(course, opts))
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.api import Gradebook, MissingEntry
    coursedir = CourseDirectory(config=cfg, root=str(course))
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise CalibrationError(f"{assignment} is not in the gradebook: run `nbgrader generate_assignment {assignment}` first")
        enrolled = {s.id for s in gb.students}
    out = Path(opts.out or course / "grading" / assignment)
    (out / "results").mkdir(parents=True, exist_ok=True)

    t0 = time.monotonic()
    calibration = calibrate(course, assignment, opts)
    t_cal = time.monotonic() - t0
    job_opts = _job_options(course, opts)
    settings = settings_digest(source_folder(course, assignment, cfg), job_opts, calibration)

    pattern = coursedir.format_path(coursedir.submitted_directory, "*", assignment)
    folders = {Path(p).parent.name: p for p in sorted(glob.glob(pattern)) if os.path.isdir(p)}
    selected = set(opts.students or folders)
    results, todo, reused = {}, [], 0
    for student in sorted(set(folders) | selected | enrolled):
        if student not in folders:            # enrolled (or asked for) but nothing submitted
            results[student] = {"student": student, "assignment": assignment, "status": "missing", "score": 0.0,
                                "max_score": None, "seconds": 0, "problems": [
                                    {"kind": "missing", "cell": None, "detail": "no submission"}]}
            continue
        job = {**job_opts, "assignment": assignment, "student": student, "digest": digest_dir(folders[student]),
               "settings": settings, "result": str(out / "results" / f"{student}.json")}
        previous = Path(job["result"])
        old = json.loads(previous.read_text()) if previous.exists() else None
        unchanged = old and old.get("digest") == job["digest"] and old.get("settings") == settings
        if student not in selected or (unchanged and old["status"] != "failed" and not opts.force):
            if old:                            # keep the class list complete in the report
                results[student] = old
                reused += student in selected
            continue
        todo.append(job)

    t1 = time.monotonic()
    pool, own_client = _executor(opts)
    futures = {}
    try:
        futures = {pool.submit(grade_one, job): job for job in todo}
        bar = tqdm(as_completed(futures), total=len(futures), unit="sub", desc=assignment,
                   disable=not opts.progress, smoothing=0.1)
        for fut in bar:
            job = futures[fut]
            try:
                r = fut.result()
            except Exception as e:      # the worker itself was lost (e.g. a Dask worker died)
                r = {"student": job["student"], "assignment": assignment, "status": "failed", "score": None,
                     "max_score": None, "seconds": None,
                     "problems": [{"kind": "grader", "cell": None, "detail": f"worker lost: {type(e).__name__}: {e}"}]}
            results[r["student"]] = r
            bar.set_postfix_str(f"{printable(r['student'])}: {_score(r)}")
    except BaseException:                      # e.g. Ctrl-C: start nothing new, let running ones finish
        for fut in futures:
            fut.cancel()
        raise
    finally:
        pool.shutdown(wait=True)
        stop_forkserver()
        if own_client is not None:
            own_client.close()
    wall = time.monotonic() - t1

    rows = [results[s] for s in sorted(results)]
    summary = {"assignment": assignment, "graded_now": len(todo), "reused": reused, "wall_seconds": round(wall, 2),
               "calibration_seconds": round(t_cal, 2), "workers": opts.workers if opts.scheduler is None else "dask",
               "sandbox": job_opts["sandbox"], "calibration": calibration}
    write_outputs(out, rows, summary)
    log(render_report(rows, summary))
    return rows


def _score(r):
    if r["status"] == "failed" or r.get("score") is None:
        return "FAILED"
    return f"{r['score']:g}/{r['max_score']:g}" if r.get("max_score") else f"{r['score']:g}"


def _status(r):
    if r["status"] == "graded":
        return "flagged" if r["problems"] else "ok"
    return r["status"]


def printable(text):
    """`text` with every non-printable character escaped as Python would (`\\n`, `\\x1b`, `\\u2028`).

    Student folder names, file names, grade ids and exception messages reach the report, the CSV
    and the terminal: a newline in them must not forge a line, an escape sequence must not drive
    the instructor's terminal.
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def spreadsheet_text(value):
    """A grades.csv field: printable, and never a formula for the spreadsheet (Canvas, Moodle) it goes to."""
    if not isinstance(value, str):
        return value
    text = printable(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _problems(r):
    return printable("; ".join(f"{p['kind']}" + (f" [{p['cell']}]" if p.get("cell") else "") + f": {p['detail']}"
                               for p in r["problems"]))


def write_outputs(out, rows, summary):
    with open(out / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "assignment", "score", "max_score", "status", "seconds", "problems"])
        for r in rows:
            w.writerow([spreadsheet_text(v) for v in (
                r["student"], r["assignment"], "" if r["status"] == "failed" else r.get("score"),
                r.get("max_score"), _status(r), r.get("seconds"), _problems(r))])
    (out / "report.txt").write_text(render_report(rows, summary) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))


def render_report(rows, summary):
    cal = summary["calibration"]
    lines = [f"coursegrade autograde {summary['assignment']}: {len(rows)} students, "
             f"workers={summary['workers']}, sandbox={summary['sandbox']}",
             f"calibration ({summary['calibration_seconds']} s): the instructor's solution passes all "
             f"{len(cal['tests'])} tests; tests run in the grader, student code in the sandbox",
             "", f"{'student':<24} {'score':>9} {'time':>7}  {'status':<8} problems"]
    for r in rows:
        secs = f"{r['seconds']:.1f}s" if r.get("seconds") is not None else "-"
        lines.append(f"{printable(r['student']):<24} {_score(r):>9} {secs:>7}  {_status(r):<8} {_problems(r)}")
    counts = {}
    for r in rows:
        counts[_status(r)] = counts.get(_status(r), 0) + 1
    n = summary["graded_now"]
    rate = f", {n / summary['wall_seconds']:.2f} submissions/s" if n and summary["wall_seconds"] else ""
    lines += ["", ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
              + f"; graded {n} now in {summary['wall_seconds']} s{rate}; {summary['reused']} unchanged since the last run"]
    return "\n".join(lines)
