"""The student's and the instructor's path in JupyterLab, driven in Chromium.

One JupyterLab server (with nbgrader's extensions, as installed by requirements.txt) runs for this
module in a throw-away course directory built with tests/course.py. The student opens a copy of the
committed release exercises/ch01_linear (the repo's exercises/ is never touched), types the correct
solution, runs all cells, sees the visible tests pass and presses Validate: success. A copy with a
wrong answer shows the failure in the notebook and in Validate's dialog. A small ipywidgets cell
renders and talks to its kernel. The instructor opens Formgrader from the Nbgrader menu and finds
the assignment and an autograded submission with full marks.

Screenshots of every step are written to artifacts/lab_*.png. Requests to hosts other than
127.0.0.1 are blocked and fail the tests.
"""
import os
import re
import secrets
import shutil
import subprocess
import threading
import time

import nbformat
import pytest

from browser_fixtures import (browser, free_port, screenshot, wait_for_server,  # noqa: F401
                              watch_context)
from course import BIN, ROOT, make_course, nbgrader, solution_sources, submit

NAME = "ch01_linear"
IDLE = "Python 3 (ipykernel) | Idle"
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
# A wrong answer the *visible* test catches (the bias is forgotten).
WRONG_COLUMN_SCORES = "def column_scores(X, W, b):\n    return W @ X\n"   # forgets the bias


class Lab:
    def __init__(self, url, token, root):
        self.url, self.token, self.root = url, token, root
        self.grading_error = None
        # The instructor's side (release, one submission, autograde) takes ~20 s of nbgrader: run
        # it in the background while the student's tests use the browser.
        self.grading = threading.Thread(target=self._grade, daemon=True)
        self.grading.start()

    def _grade(self):
        try:
            nbgrader(self.root, "generate_assignment", NAME, "--force")
            submit(self.root, NAME, "alice", solution_sources(NAME))
            nbgrader(self.root, "autograde", NAME, "--create")
        except Exception as e:      # reported by the formgrader test
            self.grading_error = e

    def tree(self, path):
        """URL that opens `path` (relative to the server root) in a fresh JupyterLab workspace."""
        return f"{self.url}lab/tree/{path}?reset&token={self.token}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving a temporary nbgrader course (with ch01_linear)."""
    base = tmp_path_factory.mktemp("lab")
    course = make_course(base, [NAME])
    for who in ("student_ok", "student_wrong"):          # copies of the committed release
        shutil.copytree(ROOT / "exercises" / NAME, course / who / NAME)
    settings = base / "app_settings"                      # overrides.json: no news/update popups
    settings.mkdir()
    shutil.copy(ROOT / "tests" / "jupyterlab" / "overrides.json", settings)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
               JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(base / "user_settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"), IPYTHONDIR=str(base / "ipython"))
    port, token = free_port(), secrets.token_hex(16)
    cmd = [str(BIN / "jupyter-lab"), "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
           f"--LabApp.app_settings_dir={settings}", "--ServerApp.terminals_enabled=False",
           "--LanguageServerManager.autodetect=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(base / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_server(f"{url}api/status?token={token}", proc, base / "jupyterlab.log",
                        "JupyterLab", timeout=90)
        yield Lab(url, token, course)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def lab_page(browser, lab):
    """A page in a fresh browser context; yields (page, watch)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    watch = watch_context(context)
    pg = context.new_page()
    pg.set_default_timeout(60000)
    yield pg, watch
    context.close()


def open_notebook(page, lab, path):
    page.goto(lab.tree(path))
    page.get_by_text(IDLE).wait_for()
    return page.locator(".jp-NotebookPanel:visible .jp-Cell")


def type_into_cell(page, cell, source):
    """Replace a cell's text the way a student does: click, select all, type (without auto-indent)."""
    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(source)
    page.keyboard.press("Escape")


def run_all(page):
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
    # every code cell that ran shows [n]; a failing cell stops the run, so wait for the kernel
    page.wait_for_function("""() => ![...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')].some(e => e.textContent.includes('*'))""")
    page.get_by_text(IDLE).wait_for()


def save(page, path, expect):
    """Ctrl+S, then wait until the file on disk holds `expect` (grade_id -> source)."""
    page.keyboard.press("Control+s")
    deadline = time.time() + 120            # generous: the shared test machine can be busy
    while True:
        nb = nbformat.read(path, as_version=4)
        got = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
        diff = {k: got.get(k) for k, v in expect.items() if got.get(k, "").strip() != v.strip()}
        if not diff:
            return
        assert time.time() < deadline, f"the notebook on disk does not hold what was typed: {diff}"
        page.wait_for_timeout(300)     # not time.sleep: Playwright routes requests only while called


def validate(page):
    """Press the nbgrader Validate button; return the result dialog's text."""
    page.get_by_role("button", name="Validate").click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_role("button", name="Ok").wait_for(timeout=120000)
    return dialog


def cell_index(path):
    nb = nbformat.read(path, as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}


def test_student_solves_and_validates(lab_page, lab):
    page, watch = lab_page
    rel = f"student_ok/{NAME}/{NAME}.ipynb"
    idx = cell_index(lab.root / rel)
    cells = open_notebook(page, lab, rel)
    screenshot(page, "lab_01_student_opens_exercise")
    answers = solution_sources(NAME)
    for gid, src in answers.items():
        type_into_cell(page, cells.nth(idx[gid]), src)
    screenshot(page, "lab_02_student_typed_solution")
    run_all(page)
    prompts = page.locator(".jp-NotebookPanel:visible .jp-CodeCell .jp-InputPrompt").all_inner_texts()
    assert prompts and all(re.search(r"\[\d+\]", p) for p in prompts), f"not every cell ran: {prompts}"
    assert page.locator(STDERR).count() == 0, "visible tests fail: " + page.locator(STDERR).first.inner_text()
    screenshot(page, "lab_03_visible_tests_pass")
    save(page, lab.root / rel, answers)
    dialog = validate(page)
    screenshot(page, "lab_04_validate_success")
    assert "Success! Your notebook passes all the tests." in dialog.inner_text()
    dialog.get_by_role("button", name="Ok").click()
    assert not watch.problems(), watch.problems()


def test_wrong_answer_fails_validation(lab_page, lab):
    page, watch = lab_page
    rel = f"student_wrong/{NAME}/{NAME}.ipynb"
    idx = cell_index(lab.root / rel)
    cells = open_notebook(page, lab, rel)
    answers = {**solution_sources(NAME), "column_scores": WRONG_COLUMN_SCORES}
    for gid, src in answers.items():
        type_into_cell(page, cells.nth(idx[gid]), src)
    run_all(page)
    errors = page.locator(STDERR)
    assert errors.count() == 1 and "the notes' 2x2 example" in errors.first.inner_text()
    errors.first.scroll_into_view_if_needed()
    screenshot(page, "lab_05_visible_test_fails")
    save(page, lab.root / rel, answers)
    dialog = validate(page)
    screenshot(page, "lab_06_validate_failure")
    text = dialog.inner_text()
    assert "Success" not in text
    assert text.count("The following cell failed") == 1, text
    assert "AssertionError" in text and "the notes' 2x2 example" in text, text
    dialog.get_by_role("button", name="Ok").click()
    assert not watch.problems(), watch.problems()


def test_widgets_render_and_talk_to_the_kernel(lab_page, lab):
    page, watch = lab_page
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "import ipywidgets as widgets\n"
        "widgets.interact(lambda k: print(f'k squared is {k * k}'),\n"
        "                 k=widgets.IntSlider(value=3, min=0, max=10, description='k'));")]
    nbformat.write(nb, lab.root / "widgets_demo.ipynb")
    open_notebook(page, lab, "widgets_demo.ipynb")
    run_all(page)
    slider = page.locator(".jp-OutputArea .jupyter-widgets [role=slider]")
    slider.wait_for()
    page.get_by_text("k squared is 9").wait_for()
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.get_by_text("k squared is 16").wait_for()           # the kernel re-ran the function
    screenshot(page, "lab_07_widget_in_jupyterlab")
    assert not watch.problems(), watch.problems()


def test_formgrader_lists_graded_submission(lab_page, lab):
    page, watch = lab_page
    lab.grading.join(timeout=600)
    assert not lab.grading.is_alive() and lab.grading_error is None, f"grading failed: {lab.grading_error}"
    nb = nbformat.read(lab.root / "solutions" / NAME / f"{NAME}.ipynb", as_version=4)
    total = sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in nb.cells)

    page.goto(f"{lab.url}lab?reset&token={lab.token}")
    page.get_by_role("menuitem", name="Nbgrader").click()
    page.get_by_role("menuitem", name="Formgrader", exact=True).click()
    frame = page.frame_locator("iframe[src*='formgrader']")
    row = frame.locator("tr", has_text=NAME)
    row.wait_for()
    screenshot(page, "lab_08_formgrader_assignments")
    submissions = row.get_by_role("link", name="1", exact=True)    # the "# Submissions" column
    assert submissions.count() == 1, row.inner_text()
    submissions.click()
    sub = frame.locator("tr", has_text="alice")
    sub.wait_for()
    screenshot(page, "lab_09_formgrader_submission")
    text = sub.inner_text()
    assert "graded" in text and re.search(rf"\b{total:g} / {total:g}\b", text), text
    frame.get_by_role("link", name="Manage Students").click()
    student = frame.locator("tr", has_text="alice")
    student.wait_for()
    screenshot(page, "lab_10_formgrader_students")
    assert re.search(rf"\b{total:g} / {total:g}\b", student.inner_text()), student.inner_text()
    assert not watch.problems(), watch.problems()
