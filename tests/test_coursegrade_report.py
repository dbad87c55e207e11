"""coursegrade.report: the class report page (also in Chromium) and `coursegrade stats`.

Built from synthetic results (tests/report_cases.py: what `coursegrade autograde`
writes), so no notebook is graded here; the term matrix from a small synthetic
gradebook.
"""

import csv
import json
import re

import nbformat
import pytest

from browser_fixtures import browser, screenshot, serve, watched_page  # noqa: F401
from coursegrade import report
from coursegrade.worker import hidden_test_lines
from grading_corpus import NAME, SOURCE
from report_cases import OUTCOMES, write_results

ODD = "<img src=x onerror=alert(1)>\nx"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("report") / "course"
    names = [f"s{i:02d}" for i in range(2 * len(OUTCOMES) - 1)] + [ODD]
    rows = write_results(course, len(names), names=names)
    return course, rows


@pytest.fixture(scope="module")
def page(course):
    path = report.build(course[0], NAME)
    return path, path.read_text()


def test_report_content(course, page):
    path, text = page
    assert path == course[0] / "grading" / NAME / "report.html"
    rates = report.pass_rates(
        report.load_rows(path.parent), report.test_cells(course[0] / "solutions" / NAME)
    )
    assert [t["grade_id"] for t in rates] == [
        "test_network_forward",
        "test_bias_trick",
        "test_linear_scores",
    ]  # worst first
    # 16 graded: network_forward passes for 2 x (correct, correct, patched, crashed) = 8
    assert (rates[0]["passed"], rates[0]["graded"]) == (8, 16)
    table = text[text.index('class="sortable tests"') :]
    assert table.index("test_network_forward") < table.index("test_linear_scores")
    assert "Task 3: a forward pass through several layers (3 points)" in table
    for kind, category in [
        ("timeout", "timeout"),
        ("memory", "crash"),
        ("suspicious", "tampering"),
        ("corrupt", "unusable submission"),
        ("grader", "grading failed"),
    ]:
        assert re.search(
            f"<td>{kind}</td><td>{category}</td><td class=\"n\" data-v=\"2\">", text
        ), kind
    assert '<td class="n" data-v="-1">FAILED</td>' in text  # a failed grading: no score
    assert text.count("<img ") == 3 and text.count('src="data:image/png;base64,') == 3
    assert "http://" not in text and "https://" not in text and "<link" not in text


def test_report_shows_no_test_source_or_errors(page):
    text = page[1]
    hidden = hidden_test_lines(nbformat.read(SOURCE, as_version=4))
    assert hidden and not [line for line in hidden if line in text]
    assert "secret hidden message" not in text and "assert " not in text


def test_report_escapes_names_and_links_feedback(course, page):
    text = page[1]
    assert ODD not in text and "<img src=x" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;\\nx" in text
    links = re.findall(r'<a href="([^"]+)">feedback</a>', text)
    graded = [r for r in course[1] if r["status"] == "graded"]
    assert len(links) == len(graded)
    base = page[0].parent
    from urllib.parse import unquote

    assert all((base / unquote(link)).resolve().is_file() for link in links)
    assert "../../feedback/s00/ch01_linear/ch01_linear.html" in links


def test_report_in_chromium(course, page, watched_page):
    pg, watch = watched_page
    with serve(course[0]) as base:
        pg.goto(base + f"grading/{NAME}/report.html")
        pg.wait_for_load_state("load")
        widths = pg.eval_on_selector_all(
            "img", "els => els.map(e => e.complete && e.naturalWidth)"
        )
        assert len(widths) == 3 and all(w and w > 0 for w in widths), widths

        def column(n):
            return pg.eval_on_selector_all(
                f"table.students tbody tr td:nth-child({n})",
                "tds => tds.map(td => td.getAttribute('data-v') ?? td.textContent)",
            )

        header = pg.locator("table.students th", has_text="score")
        header.click()
        up = [float(v) for v in column(2)]
        assert up == sorted(up) and up[0] < up[-1]
        header.click()
        assert [float(v) for v in column(2)] == sorted(up, reverse=True)
        pg.locator("table.students th", has_text="student").click()
        names = column(1)
        assert names == sorted(names, key=str.lower)
        screenshot(pg, "coursegrade_report", full_page=False)
        pg.locator("a", has_text="feedback").first.click()
        pg.wait_for_load_state("load")
        assert "feedback for" in pg.content()
    assert watch.problems() == []


def test_report_opens_as_a_file(page, browser):  # noqa: F811
    """Opened straight from grading/<A>/ (file://), with no server and no network."""
    context = browser.new_context(offline=True)
    errors = []
    pg = context.new_page()
    pg.on("console", lambda m: m.type == "error" and errors.append(m.text))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on(
        "request", lambda r: r.url.startswith(("http", "ws")) and errors.append(r.url)
    )
    pg.goto(page[0].as_uri())
    widths = pg.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    pg.locator("table.tests th", has_text="points").click()
    points = pg.eval_on_selector_all(
        "table.tests tbody tr td:nth-child(3)", "tds => tds.map(td => td.textContent)"
    )
    context.close()
    assert len(widths) == 3 and min(widths) > 0 and errors == []
    assert points == ["2", "3", "3"]


def test_autograde_names_the_report_last(course, monkeypatch, capsys, tmp_path):
    import coursegrade.__main__ as cli

    fresh = tmp_path / "c"
    monkeypatch.setattr(
        cli, "autograde", lambda c, a, opts: write_results(fresh, len(OUTCOMES))
    )
    assert (
        cli.main(["autograde", NAME, "--course", str(fresh), "--quiet"]) == 1
    )  # one failed
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("class report: ") and last.endswith(
        f"grading/{NAME}/report.html"
    )
    assert (fresh / "grading" / NAME / "report.html").is_file()
    assert cli.main(["report", NAME, "--course", str(fresh)]) == 0


def test_report_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="coursegrade autograde"):
        report.build(tmp_path, NAME)


def test_stats_term_matrix(tmp_path, monkeypatch):
    import os
    import sys
    from pathlib import Path

    monkeypatch.setenv(
        "PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    from test_lms_export import make_gradebook

    course = make_gradebook(tmp_path)
    failed = course / "grading" / "ch02_losses" / "results"
    failed.mkdir(parents=True)
    (failed / "bob.json").write_text(
        json.dumps(
            {"student": "bob", "status": "failed", "problems": [], "score": None}
        )
    )
    import coursegrade.__main__ as cli

    assert cli.main(["stats", "--course", str(course)]) == 0
    with open(course / "grading" / "term.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"alice", "bob", "carol", "'=cmd|x"}
    assert (rows["alice"]["ch01_linear"], rows["alice"]["ch02_losses"]) == ("8", "10")
    assert (
        rows["bob"]["ch01_linear"] == "2.4" and rows["bob"]["ch02_losses"] == "failed"
    )
    assert rows["carol"]["ch02_losses"] == "missing" and rows["carol"]["missing"] == "1"
    assert rows["bob"]["failed"] == "1"
    text = report.write_term(course)[2]
    assert "missing: 2: =cmd|x/ch01_linear, carol/ch02_losses" in text
    assert "failed: 1: bob/ch02_losses" in text and "manual: 0" in text
    html_text = (course / "grading" / "term.html").read_text()
    assert "default-src 'none'" in html_text and "<th>ch02_losses</th>" in html_text
