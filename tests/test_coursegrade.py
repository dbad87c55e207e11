"""The grading command end to end: a simulated class of honest, broken and hostile submissions.

One course (tests/grading_corpus: a frozen copy of the ch01_linear assignment) is graded once with
`coursegrade.batch.autograde` (2 workers, 4 s per cell); every case must get its expected score
and problem kinds. Then: nothing escaped the sandbox, feedback hides the hidden tests, the gradebook
agrees with grades.csv, grading is deterministic, an interrupted batch resumes, a failed re-grade
is reported (and the old grade removed), the fallback sandbox still defeats tampering, and the
gradebook works on a real PostgreSQL server, graded in parallel locally and on a Dask cluster.
"""
import csv
import html
import socket
import threading
from pathlib import Path

import nbformat
import pytest

from course import nbgrader, read_grades
from grading_corpus import CASES, NAME, ROOT, SOURCE, build, make_course, solution_sources, write_corpus, write_submission
from grading_corpus.postgres import ServerUnavailable, postgres_server
from coursegrade.batch import Options, autograde
from coursegrade.sandbox import bwrap_works
from coursegrade.worker import hidden_test_lines

# Short cell timeouts keep the loop cases quick; the notebook budget is generous, because
# under `make test` the other xdist worker may be building the book on the same 2 cores.
FAST = dict(workers=2, cell_timeout=4, notebook_timeout=300, progress=False)
BWRAP = bwrap_works()


class AnswerServer(threading.Thread):
    """A local TCP server that would hand out working code to anyone who connects."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port, self.connections = self.sock.getsockname()[1], 0
        sol = solution_sources()
        self.payload = "\n".join(sol.values()).encode()

    def run(self):
        while True:
            conn, _ = self.sock.accept()
            self.connections += 1
            conn.sendall(self.payload)
            conn.close()


def new_course(tmp, db_url=None):
    course = make_course(tmp)
    extra = [f"--CourseDirectory.db_url={db_url}"] if db_url else []
    nbgrader(course, "generate_assignment", NAME, "--force", *extra)
    return course


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = new_course(tmp_path_factory.mktemp("corpus"))
    server = AnswerServer()
    server.start()
    write_corpus(course, {"port": server.port, "course": str(course), "repo": str(ROOT)}, bwrap=BWRAP)
    rows = autograde(course, NAME, Options(**FAST), log=lambda text: None)
    return course, {r["student"]: r for r in rows}, server


def kinds(result):
    return {p["kind"] for p in result["problems"]}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(graded, case):
    if case.needs_bwrap and not BWRAP:
        pytest.skip("bubblewrap cannot create namespaces here: this hostile case is not run without it")
    _, results, _ = graded
    r = results[case.name]
    assert r["status"] == "graded", r
    assert (r["score"], r["max_score"]) == (case.score, 8.0), r
    assert case.problems <= kinds(r), r["problems"]
    if case.exact:
        assert kinds(r) == case.problems, r["problems"]
    assert all(p["detail"] for p in r["problems"]), "every problem says why"


def cell_text(course, student, grade_id):
    nb = nbformat.read(course / "autograded" / student / NAME / f"{NAME}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join(o.get("text", "") for o in cell.outputs)


@pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot create namespaces here")
def test_nothing_escapes_the_sandbox(graded):
    course, _, server = graded
    assert "SNOOP found: []" in cell_text(course, "snoop", "linear_scores")
    assert not (course / "PWNED").exists() and not Path("/tmp/PWNED_coursegrade").exists()
    assert "NET blocked" in cell_text(course, "network", "linear_scores")
    assert server.connections == 0, "a kernel reached a server on the grader's 127.0.0.1"


@pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot create namespaces here")
def test_process_limit_stops_a_fork_bomb(graded):
    course, _, _ = graded
    nb = nbformat.read(course / "autograded" / "fork_bomb" / NAME / f"{NAME}.ipynb", as_version=4)
    assert "fork stopped after" in "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                                           for o in c.outputs)


def test_feedback_hides_hidden_tests(graded):
    course, results, _ = graded
    secret = hidden_test_lines(nbformat.read(SOURCE, as_version=4))
    assert secret
    pages = 0
    for student, r in results.items():
        page = course / "feedback" / student / NAME / f"{NAME}.html"
        if kinds(r) & {"corrupt", "missing", "symlink", "hardlink"}:      # nothing was run: no feedback
            assert not page.exists()
            continue
        text = html.unescape(page.read_text())
        pages += 1
        assert "HIDDEN TESTS" not in text
        assert not [line for line in secret if line in text], f"{student}'s feedback shows hidden tests"
        assert "Traceback (most recent call last)" not in text
    assert pages >= len(results) - 5


def decodings(text):
    """The page, and what base64, hex or rot13 inside it would say."""
    import base64
    import codecs
    import re
    yield text
    yield codecs.encode(text, "rot13")
    for token in re.findall(r"[A-Za-z0-9+/=]{24,}", text):
        try:
            yield base64.b64decode(token + "=" * (-len(token) % 4)).decode("utf-8", "ignore")
        except ValueError:
            pass
    for token in re.findall(r"(?:[0-9a-f]{2}){12,}", text):
        yield bytes.fromhex(token).decode("utf-8", "ignore")


def test_feedback_carries_nothing_hidden_in_any_encoding(graded):
    """No hidden test line and no hidden input, in plain text, base64, hex or rot13; output of
    student code that ran after hidden tests is withheld."""
    course, results, _ = graded
    secret = hidden_test_lines(nbformat.read(SOURCE, as_version=4))
    for student in results:
        page = course / "feedback" / student / NAME / f"{NAME}.html"
        if not page.exists():
            continue
        for text in decodings(html.unescape(page.read_text())):
            assert not [line for line in secret if line in text], f"{student}'s feedback leaks a hidden test"
            assert "default_rng(11)" not in text and "### BEGIN HIDDEN TESTS" not in text
    leak = html.unescape((course / "feedback" / "leak_encoded" / NAME / f"{NAME}.html").read_text())
    import re
    assert not re.search(r"B64: [A-Za-z0-9+/]{20}", leak) and "output withheld from feedback" in leak
    nb = nbformat.read(course / "autograded" / "leak_encoded" / NAME / f"{NAME}.ipynb", as_version=4)
    last = nb.cells[-1]
    assert [o.output_type for o in last.outputs] == ["stream", "error"] and last.outputs[1].evalue == \
        "this cell raised an error", "the last cell ran after hidden tests: its output and message are withheld"
    state = cell_text(course, "read_test_state", "linear_scores")
    assert "history holds hidden tests: False" in state, "hidden source never enters the kernel"


def test_feedback_pages_are_inert(graded):
    """Student HTML and JavaScript never run when a feedback page is opened."""
    course, results, _ = graded
    page = (course / "feedback" / "live_html" / NAME / f"{NAME}.html").read_text()
    import re
    assert "<script>document.title" not in page, "student scripts are escaped"
    assert not re.search(r"<img[^>]*onerror", page), "and so are event handlers"
    for student in results:
        path = course / "feedback" / student / NAME / f"{NAME}.html"
        if path.exists():
            assert "Content-Security-Policy" in path.read_text()[:3000], student


def test_outputs_are_capped_in_bytes(graded):
    course, results, _ = graded
    nb = course / "autograded" / "print_flood" / NAME / f"{NAME}.ipynb"
    assert nb.stat().st_size < 4 * 2**20, "48 MiB of output must not reach the autograded notebook"
    assert any(p["kind"] == "output" and "dropped" in p["detail"] for p in results["print_flood"]["problems"])


def test_honest_variants_grade_like_the_honest_notebook(graded):
    _, results, _ = graded
    for name in ("duplicate_cell", "lambda_solution", "new_graded_cell", "solution_made_test", "unknown_schema",
                 "changed_points", "changed_kernelspec"):
        assert results[name]["tests"] == results["correct"]["tests"], name


def test_gradebook_agrees_with_grades_csv(graded):
    course, results, _ = graded
    book = read_grades(course)
    with open(course / "grading" / NAME / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["student_id"] for r in rows) == sorted(results), "one row per student, no duplicates"
    for row in rows:
        assert float(row["score"]) == book[(NAME, row["student_id"])][0], row
    report = (course / "grading" / NAME / "report.txt").read_text()
    assert all(student in report for student in results)


def test_mutated_inputs_do_not_reach_the_test(graded):
    _, results, _ = graded
    t = results["mutate_inputs"]["tests"]["test_bias_trick"]
    assert not t["passed"] and t["part"] == "hidden" and "ArgumentModified" in t["error"]


def test_grading_is_deterministic(graded):
    _, results, _ = graded
    for a, b in [("correct", "correct_twin"), ("partial", "partial_twin")]:
        assert results[a]["score"] == results[b]["score"]
        assert results[a]["tests"] == results[b]["tests"]


def test_fallback_sandbox_still_defeats_tampering(tmp_path):
    """Without bubblewrap (limits only), tests still run in the grader, and the reference package
    still cannot be imported."""
    course = new_course(tmp_path)
    for name in ("correct", "patch_allclose", "loop_in_solution", "dynamic_import"):
        write_submission(course, name, build(name, course, {}))
    rows = {r["student"]: r for r in autograde(course, NAME, Options(**{**FAST, "sandbox": "rlimit"}), log=lambda t: None)}
    assert rows["correct"]["score"] == 8 and rows["correct"]["sandbox"].startswith("rlimit")
    assert rows["patch_allclose"]["score"] == 5
    assert rows["dynamic_import"]["score"] == 5
    assert rows["loop_in_solution"]["score"] == 5, rows["loop_in_solution"]
    assert "timeout" in kinds(rows["loop_in_solution"]), rows["loop_in_solution"]


def test_postgres_gradebook_local_and_dask(tmp_path):
    """A real PostgreSQL server: 2 local workers, then a Dask LocalCluster of 2 processes."""
    from distributed import Client, LocalCluster
    from nbgrader.api import Gradebook
    try:
        server = postgres_server()
        url = server.__enter__()
    except ServerUnavailable as e:
        pytest.skip(f"PostgreSQL server could not start: {e}")
    try:
        course = new_course(tmp_path, db_url=url)
        names = ["correct", "blank", "partial", "patch_allclose", "correct_twin", "warns"]
        for name in names:
            write_submission(course, name, build(name, course, {}))
        local = Options(**FAST, db_url=url, students=names[:3])
        rows = autograde(course, NAME, local, log=lambda t: None)
        assert {r["student"]: r["score"] for r in rows} == {"correct": 8, "blank": 0, "partial": 5}
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            dask = Options(**FAST, db_url=url, scheduler=client, students=names[3:])
            rows = autograde(course, NAME, dask, log=lambda t: None)
        expected = {"correct": 8, "blank": 0, "partial": 5, "patch_allclose": 5, "correct_twin": 8, "warns": 8}
        assert {r["student"]: r["score"] for r in rows} == expected
        with Gradebook(url, "nn-course") as gb:
            assert {s: gb.find_submission(NAME, s).score for s in names} == expected
            assert len(gb.assignment_submissions(NAME)) == len(names)
    finally:
        server.__exit__(None, None, None)


# The tests below change the module's course: keep them last.

def test_resume_after_interruption(graded):
    course, results, _ = graded
    results_dir = course / "grading" / NAME / "results"
    (results_dir / "blank.json").unlink()              # as if the batch died before it finished blank
    rows = autograde(course, NAME, Options(**FAST), log=lambda t: None)
    summary = (course / "grading" / NAME / "summary.json").read_text()
    assert '"graded_now": 1' in summary and f'"reused": {len(results) - 1}' in summary
    assert {r["student"]: r["score"] for r in rows} == {s: r["score"] for s, r in results.items()}


def test_failed_regrade_is_reported_not_hidden(graded):
    course, _, _ = graded
    folder = course / "submitted" / "correct" / NAME
    (folder / "timestamp.txt").write_text("not a time")    # nbgrader cannot autograde this
    rows = {r["student"]: r for r in autograde(course, NAME, Options(**FAST, students=["correct"]), log=lambda t: None)}
    assert rows["correct"]["status"] == "failed" and rows["correct"]["score"] is None
    assert "nbgrader autograde failed" in rows["correct"]["problems"][0]["detail"]
    with open(course / "grading" / NAME / "grades.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["student_id"] == "correct")
    assert row["status"] == "failed" and row["score"] == ""
    assert read_grades(course)[(NAME, "correct")][0] == 0, "the old 8/8 must not survive a failed re-grade"
    (folder / "timestamp.txt").unlink()
    rows = {r["student"]: r for r in autograde(course, NAME, Options(**FAST, students=["correct"]), log=lambda t: None)}
    assert rows["correct"]["status"] == "graded" and rows["correct"]["score"] == 8
