"""Grade one submission: `grade_one(job)` in a batch worker, `python -m coursegrade.worker` inside.

grade_one runs the grading in a child process of its own (a new session, killed as a whole when it
overruns), so nothing a submission does can take the batch worker down. The child:

1. stages the submission (`coursegrade.submission.stage`): a copy of the student's folder whose
   notebooks carry the release's nbgrader metadata and kernel, with every problem reported:
   missing notebooks (nbgrader gives them zero), unreadable JSON or links in the folder (zero,
   set here through nbgrader's Gradebook API), edited or duplicated nbgrader metadata, test cells
   deleted or edited (nbgrader restores them: `OverwriteCells.add_missing_cells`);
2. runs nbgrader's own autograde for this student on the staged copy (submitted/ is only read),
   with the course's nbgrader_config.py plus coursegrade's overrides (`overrides`): the
   sandboxed, clean-checked Execute step;
3. generates the student's feedback (hidden tests stripped by the course config) and withholds it
   if a hidden test line still shows;
4. writes a result: score, time, problems.

If grading fails, the stale grade from an earlier run is removed from the gradebook, so a failed
re-grade is reported as failed instead of silently keeping the old score.
"""
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import nbformat

from coursegrade.submission import stage

VERSION = "2"   # bump when grading semantics change: resumed batches then re-grade everything


def digest_dir(path):
    """Fingerprint of every file in a submission folder."""
    h = hashlib.sha256()
    for p in sorted(Path(path).rglob("*")):
        if p.is_file() and ".ipynb_checkpoints" not in p.parts:
            h.update(str(p.relative_to(path)).encode() + b"\0")
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(2**20), b""):
                    h.update(block)
            h.update(b"\0")
    return h.hexdigest()


def hidden_test_lines(source_nb):
    """Lines inside ### BEGIN/END HIDDEN TESTS of a source notebook (long enough to be telling)."""
    lines, inside = set(), False
    for cell in source_nb.cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= 20:
                lines.add(line.strip())
    return lines


SANDBOXED = "coursegrade.execute.SandboxedExecute"


def _step_class(step):
    if isinstance(step, str):
        from traitlets.utils.importstring import import_item
        return import_item(step)
    return step


def runs_code(step):
    """True for a preprocessor that executes notebook code (nbgrader's Execute and anything like it)."""
    from nbclient import NotebookClient
    cls = _step_class(step)
    return isinstance(cls, type) and issubclass(cls, NotebookClient)


def overrides(opts, course_config):
    """nbgrader config that coursegrade adds on top of the course's nbgrader_config.py.

    Every step that executes code (Execute, or a course's own subclass under any name) becomes
    SandboxedExecute; `check_execution_steps` then makes sure nothing else would run the notebook.
    """
    from nbgrader.converters import Autograde
    from traitlets.config import Config
    c = Config()
    default = Autograde.class_traits()["autograde_preprocessors"].default()
    c.Autograde.autograde_preprocessors = [SANDBOXED if runs_code(step) else step
                                           for step in course_config.Autograde.get("autograde_preprocessors", default)]
    c.OverwriteCells.add_missing_cells = True
    from nbgrader.converters import GenerateFeedback
    feedback = GenerateFeedback.class_traits()["preprocessors"].default()
    c.GenerateFeedback.preprocessors = [*course_config.GenerateFeedback.get("preprocessors", feedback),
                                        "nbconvert.preprocessors.sanitize.SanitizeHTML"]   # student HTML: escaped
    c.SanitizeHTML.enabled = True
    se = c.SandboxedExecute
    se.timeout = opts["cell_timeout"]
    se.notebook_timeout = opts["notebook_timeout"]
    se.memory_limit = opts["memory"]
    se.sandbox_mode = opts["sandbox"]
    se.course_root = opts["course"]
    se.hide = opts.get("hide", [])
    se.expose = opts.get("expose", [])
    if opts.get("db_url"):
        c.CourseDirectory.db_url = opts["db_url"]
    return c


class UnsafeConfiguration(RuntimeError):
    pass


def check_execution_steps(cfg):
    """Fail closed: grade only if SandboxedExecute is the one step that executes code."""
    from coursegrade.execute import SandboxedExecute
    steps = list(cfg.Autograde.get("autograde_preprocessors", []))
    runners = [s for s in steps if runs_code(s)]
    if [_step_class(s) for s in runners] != [SandboxedExecute]:
        raise UnsafeConfiguration("refusing to grade: the autograde steps that execute code are "
                                  f"{[getattr(_step_class(s), '__name__', s) for s in runners]}, "
                                  "not exactly coursegrade's SandboxedExecute")
    if cfg.Autograde.get("sanitize_preprocessors") and any(runs_code(s) for s in cfg.Autograde.sanitize_preprocessors):
        raise UnsafeConfiguration("refusing to grade: a sanitize step executes code")


def load_config(course, opts):
    """The course's nbgrader_config.py, plus `overrides`, with a SQLite lock timeout."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader
    cfg = Config()
    if (Path(course) / "nbgrader_config.py").exists():
        cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    cfg.merge(overrides(opts, cfg))
    cfg.CourseDirectory.root = str(course)
    url = cfg.CourseDirectory.get("db_url", f"sqlite:///{course}/gradebook.db")
    if url.startswith("sqlite:///") and "?" not in url:
        path = url[len("sqlite:///"):]
        url = f"sqlite:///{Path(course, path) if not os.path.isabs(path) else path}?timeout=300"
    cfg.CourseDirectory.db_url = url      # parallel writers wait for SQLite's lock instead of failing
    check_execution_steps(cfg)
    return cfg


def zero_notebooks(db_url, course_id, assignment, student, notebooks):
    """Record zero for notebooks nbgrader cannot grade, as nbgrader does for missing ones."""
    from nbgrader.api import Gradebook
    with Gradebook(db_url, course_id) as gb:
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student)
        for name in notebooks:
            for grade in gb.find_submission_notebook(name, assignment, student).grades:
                grade.auto_score, grade.needs_manual_grade = 0, False
        gb.db.commit()


def remove_stale_grade(db_url, course_id, assignment, student):
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(db_url, course_id) as gb:
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:
            pass


def grade_in_this_process(job):
    """The child's work (see the module docstring). Returns the result dict."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory

    course, assignment, student = job["course"], job["assignment"], job["student"]
    cfg = load_config(course, job)
    report_path = Path(job["result"]).with_suffix(".execute.json")
    cfg.SandboxedExecute.report_path = str(report_path)
    cfg.SandboxedExecute.source_dir = str(Path(course, cfg.CourseDirectory.get("source_directory", "source"), assignment))
    coursedir = CourseDirectory(config=cfg, root=str(course))
    submitted = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
    source = Path(coursedir.format_path(coursedir.source_directory, ".", assignment))
    release = Path(coursedir.format_path(coursedir.release_directory, ".", assignment))
    cfg.CourseDirectory.submitted_directory = os.path.join("grading", assignment, "staged")   # what nbgrader reads
    coursedir = CourseDirectory(config=cfg, root=str(course))
    staging = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
    api = NbGraderAPI(coursedir=coursedir, config=cfg)
    db_url, course_id = coursedir.db_url, coursedir.course_id
    result = {"status": "graded", "problems": [], "tests": {}, "sandbox": None}

    shutil.rmtree(staging, ignore_errors=True)           # left by a grading process that was killed
    try:
        problems, unusable = stage(submitted, source, release, staging)
        out = None if unusable else api.autograde(assignment, student, force=True, create=True)
    finally:                                             # autograded/ now holds all nbgrader needs
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            staging.parent.rmdir()
    result["problems"] += problems
    if unusable:
        remove_stale_grade(db_url, course_id, assignment, student)
        zero_notebooks(db_url, course_id, assignment, student, unusable)
    else:
        if not out["success"]:
            remove_stale_grade(db_url, course_id, assignment, student)
            tail = (out.get("error") or out.get("log") or "").strip().splitlines()[-3:]
            return {**result, "status": "failed", "problems": result["problems"] + [
                {"kind": "grader", "cell": None, "detail": "nbgrader autograde failed: " + " | ".join(tail)}]}
        if not report_path.exists():     # fail closed: the sandboxed step did not run
            remove_stale_grade(db_url, course_id, assignment, student)
            return {**result, "status": "failed", "problems": result["problems"] + [
                {"kind": "grader", "cell": None, "detail": "the sandboxed execution step did not run"}]}
        report = json.loads(report_path.read_text())
        result["problems"] += report["problems"]
        result["tests"], result["sandbox"] = report["tests"], report["sandbox"]
        report_path.unlink()
        if job.get("feedback", True):
            fb = api.generate_feedback(assignment, student, force=True)
            if not fb["success"]:
                result["problems"].append({"kind": "feedback", "cell": None, "detail": "feedback could not be generated"})
            else:
                result["problems"] += secure_feedback(coursedir, assignment, student)
    with Gradebook(db_url, course_id) as gb:
        sub = gb.find_submission(assignment, student)
        result["score"], result["max_score"] = float(sub.score), float(sub.max_score)
        if sub.needs_manual_grade:
            result["problems"].append({"kind": "manual", "cell": None, "detail": "some cells need manual grading"})
    return result


CSP = ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
       'style-src \'unsafe-inline\'; img-src data:; font-src data:">')


def secure_feedback(coursedir, assignment, student):
    """Make each feedback page inert and check it (defence in depth).

    A Content-Security-Policy as the page's first element forbids every script (student HTML that
    survived sanitising cannot run) and every network fetch; a page that still shows a hidden
    test line is deleted and reported.
    """
    import html
    problems = []
    source = Path(coursedir.format_path(coursedir.source_directory, ".", assignment))
    feedback = Path(coursedir.format_path(coursedir.feedback_directory, student, assignment))
    for src in source.glob("*.ipynb"):
        secret = hidden_test_lines(nbformat.read(src, as_version=4))
        page = feedback / f"{src.stem}.html"
        if not page.exists():
            continue
        text = page.read_text()
        head = text.find("<head>")
        text = text[:head + 6] + CSP + text[head + 6:] if head >= 0 else CSP + text
        page.write_text(text)
        plain = html.unescape(text)
        if "HIDDEN TESTS" in plain or any(line in plain for line in secret):
            page.unlink()
            problems.append({"kind": "feedback", "cell": None, "detail": f"{page.name} withheld: it showed hidden tests"})
    return problems


def run_child(job):
    """Body of the grading process: grade, then write the result file atomically.

    Holds a lock on the student's result while grading: a grading process left over from an
    interrupted batch finishes before a new run grades the same submission again.
    """
    import fcntl
    lock = open(job["result"] + ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    start = time.monotonic()
    try:
        result = grade_in_this_process(job)
    except Exception as e:
        result = {"status": "failed", "problems": [{"kind": "grader", "cell": None, "detail": f"{type(e).__name__}: {e}"}],
                  "traceback": traceback.format_exc()}
        try:                        # a failed re-grade never hides behind an old score
            cfg = load_config(job["course"], job).CourseDirectory
            remove_stale_grade(cfg.db_url, cfg.get("course_id", ""), job["assignment"], job["student"])
        except Exception as e2:
            result["problems"].append({"kind": "grader", "cell": None, "detail": f"old grade not removed: {e2}"})
    result["seconds"] = round(time.monotonic() - start, 2)
    tmp = Path(job["result"] + ".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, job["result"])


def _forked_child(job, log_path):
    os.setsid()                                   # its own process group, killed as one
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    os.chdir(job["course"])
    run_child(job)


_context = None


def _forkserver():
    """A fork server that has imported nbgrader once (about 2 s of CPU saved per submission).

    None inside daemonic processes (e.g. Dask workers), which may not have multiprocessing
    children: those start `python -m coursegrade.worker` instead.
    """
    global _context
    import multiprocessing
    if multiprocessing.current_process().daemon:
        return None
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(["coursegrade.worker", "coursegrade.execute", "nbgrader.apps"])
    return _context


def stop_forkserver():
    """Stop the fork server (and reap it, so its CPU time is accounted to this process)."""
    global _context
    if _context is not None:
        from coursegrade.compat import stop_forkserver as stop
        stop()
        _context = None


def _run_isolated(job, limit, log_path):
    """Run the grading process; return None or why it produced no result."""
    ctx = _forkserver()
    if ctx is not None:
        proc = ctx.Process(target=_forked_child, args=(job, str(log_path)))
        proc.start()
        proc.join(limit)
        if proc.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.join()
            return f"grading took longer than {limit} s and was stopped"
        return f"the grading process exited with status {proc.exitcode}"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "coursegrade.worker"], stdin=subprocess.PIPE, stdout=log,
                                stderr=subprocess.STDOUT, text=True, cwd=job["course"], env=env,
                                start_new_session=True)
        try:
            proc.communicate(json.dumps(job), timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return f"grading took longer than {limit} s and was stopped"
    return f"the grading process exited with status {proc.returncode}"


def grade_one(job):
    """Grade one submission in a process of its own; return its result (never raises for a submission).

    job: course, assignment, student, result (path of the JSON result), cell_timeout,
    notebook_timeout, memory, sandbox, db_url, verified_tests, hide, expose, feedback.
    The result is written atomically next to the batch's other results (the resume ledger); the
    grading process's log goes next to it (<student>.log).
    """
    start = time.monotonic()
    result_path = Path(job["result"])
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.unlink(missing_ok=True)
    log_path = result_path.with_suffix(".log")
    reason = _run_isolated(job, job["notebook_timeout"] * 2 + 120, log_path)
    if result_path.exists():
        result = json.loads(result_path.read_text())
    else:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-2:] if log_path.exists() else []
        reason = " | ".join([reason] + tail)
        try:
            cfg = load_config(job["course"], job).CourseDirectory
            remove_stale_grade(cfg.db_url, cfg.get("course_id", ""), job["assignment"], job["student"])
        except Exception as e:
            reason += f" (and the old grade could not be removed: {e})"
        result = {"status": "failed", "problems": [{"kind": "grader", "cell": None, "detail": reason}]}
    result.update(student=job["student"], assignment=job["assignment"], digest=job.get("digest"),
                  settings=job.get("settings"), seconds=round(time.monotonic() - start, 2))
    result.setdefault("score", None)
    result.setdefault("max_score", None)
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, result_path)
    return result


if __name__ == "__main__":
    run_child(json.loads(sys.stdin.read()))
