"""The strictly built book: every page of the table of contents exists and was executed.

The build itself (fixture `built_book`, same command as `make book`) is the test that every chapter
notebook executes without error and that there is no broken reference or warning.
"""
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

from course import ROOT, assignments
from test_exercises_not_in_book import solution_regions, squash


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


def test_every_toc_page_is_built(built_book):
    for f in toc_files():
        assert (built_book / f"{f}.html").exists(), f"{f}.html missing from the build"


def test_chapters_are_executed_with_figures(built_book):
    for f in toc_files():
        if not f.startswith("chapters/"):
            continue
        html = (built_book / f"{f}.html").read_text()
        assert "cell_output" in html, f"{f}: no executed outputs"
        assert re.search(r'<img[^>]+src="[^"]*_images/', html), f"{f}: no figure drawn by code"
        assert "Traceback" not in html, f"{f}: an error traceback is shown"


def test_notes_numbers_reproduced(built_book):
    """Spot checks that the executed pages show the notes' worked examples."""
    expected = {
        "ch01_linear": ["-96.80", "437.90", "60.75", "0.57444252", "0.31682708", "0.69627909"],
        "ch04_backprop": ["0.75136507", "0.29837111", "-0.534"],
        "ch05_training": ["13002", "12730"],
    }
    for page, numbers in expected.items():
        html = (built_book / f"chapters/{page}.html").read_text()
        text = re.sub(r"<[^>]+>", "", html).replace(",", "")
        for number in numbers:
            assert number in text, f"{page} does not show {number}"


def test_a_failed_build_reports_its_cause_last():
    """CI shows the end of a report: the failing cell and its error must be there, not only
    Sphinx's own traceback (a CPU-dependent assert once failed CI with no cause shown)."""
    from conftest import build_failure
    output = ("\x1b[91m/x/ch06.md: WARNING: Executing notebook failed: CellExecutionError\n"
              "An error occurred while executing the following cell:\n------------------\n"
              "assert 0.515 <= mean\n------------------\nAssertionError: \n\n [mystnb.exec]\n"
              + "sphinx traceback line\n" * 2000 + "RuntimeError: There was an error")
    report = build_failure(output)
    tail = report[-600:]
    assert "assert 0.515 <= mean" in tail and "AssertionError" in tail, tail
    assert tail.rstrip().endswith("WARNING: Executing notebook failed: CellExecutionError")
    assert "\x1b[" not in report and len(report) < 8000


def test_notes_cited_by_title_not_as_seeds():
    """The notes are cited by their titles; "seed" means a random seed on the same pages."""
    pages = [ROOT / "intro.md", *sorted((ROOT / "chapters").glob("*.md"))]
    for page in pages:
        for n, line in enumerate(page.read_text().splitlines(), 1):
            assert not re.search(r"\bseeds?\W{0,3}`?00[0-4]\b|\b00[0-4]`?'s\b", line), \
                f"{page.name}:{n} cites a note by file number: {line.strip()}"
    intro = (ROOT / "intro.md").read_text()
    for title in ["《神经网络基础》", "《深度学习(鱼书)day03——神经网络(后两节)》", "《神经网络怎么看出哪个维度重要》",
                  "《神经网络学习笔记——神经网络基础(一)》", "《pytorch之深度神经网络概念全面整理》"]:
        assert title in intro, f"the intro's table of notes lacks {title}"


def test_code_cells_fit_the_page():
    """Every code cell a reader sees (not removed by a tag) keeps its lines within 88
    characters and its length within about 25 lines (27 allowed), so it reads on one
    screen without sideways scrolling. The browser test measures the rendered page;
    this names the cell in the source."""
    import jupytext

    long_lines, long_cells = [], []
    for page in sorted((ROOT / "chapters").glob("*.md")):
        for n, cell in enumerate(jupytext.read(page).cells):
            tags = cell.metadata.get("tags", [])
            if cell.cell_type != "code" or {"remove-cell", "remove-input"} & set(tags):
                continue
            lines = cell.source.splitlines()
            long_lines += [f"{page.name} cell {n}: {line!r}" for line in lines if len(line) > 88]
            if len(lines) > 27:
                long_cells.append(f"{page.name} cell {n}: {len(lines)} lines: {lines[0]!r}")
    assert not long_lines, "code lines over 88 characters:\n" + "\n".join(long_lines)
    assert not long_cells, "code cells over 27 lines:\n" + "\n".join(long_cells)


def chapter_docs():
    return [f for f in toc_files() if f.startswith("chapters/")]


def notebook_lines(nb):
    """Squashed lines of every cell's source and every text output of a notebook."""
    out = set()
    for cell in nb.cells:
        texts = [cell.source]
        for o in cell.get("outputs", []):
            texts.append(o.get("text", ""))
            texts += [str(v) for k, v in o.get("data", {}).items()
                      if k.startswith("text/")]
        for t in texts:
            out.update(squash(line) for line in "".join(t).splitlines())
    return out


def test_chapters_offer_their_executed_notebook(built_book):
    """Each chapter page links its notebook (.ipynb), which exists next to the page, is
    valid nbformat, holds the executed outputs (figures included, no errors), shows the
    code of each {literalinclude}, and prints no more of an exercise's solution than the
    book may (test_exercises_not_in_book's rule, on the notebook's sources and
    outputs)."""
    regions = [(name, gid, lines) for name in assignments()
               for gid, lines in solution_regions(name)]
    assert regions, "no solution regions found to look for"
    for doc in chapter_docs():
        page = built_book / f"{doc}.html"
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        links = {a["href"] for a in soup.select("article a[href$='.ipynb']")}
        assert links == {f"{Path(doc).name}.ipynb"}, f"{doc}: notebook links {links}"
        header = soup.select(".article-header-buttons a[href$='.ipynb']")
        assert header, f"{doc}: no notebook download button in the page header"
        nb_path = page.parent / links.pop()
        assert nb_path.is_file(), f"{doc}: the linked {nb_path.name} was not published"
        nb = nbformat.read(nb_path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        outputs = [o for c in code for o in c.outputs]
        assert code and all(c.execution_count for c in code), f"{doc}: not executed"
        figures = [o for o in outputs if "image/png" in o.get("data", {})]
        assert figures, f"{doc}: no figure"
        errors = [o for o in outputs if o.output_type == "error"]
        assert not errors, f"{doc}: an error output"
        md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "{literalinclude}" not in md, f"{doc}: literalinclude left unexpanded"
        shown_in_nb = notebook_lines(nb)
        for name, gid, lines in regions:
            shown = [l for l in lines if l in shown_in_nb]
            limit = 0 if len(lines) <= 2 else len(lines) / 3
            assert len(shown) <= limit, (
                f"{nb_path.name} prints {len(shown)}/{len(lines)} lines of {name}'s "
                f"solution {gid}, e.g. {shown[:3]}")


@pytest.fixture(scope="session")
def built_pdf(built_book):
    """The book as one PDF (tools/build_pdf.py, as `make pdf`), from the same build
    folder as built_book, so no chapter is executed again. NNCOURSE_SKIP_BOOK_BUILD=1
    reuses an existing _build/pdf/book.pdf."""
    book_root = built_book.parent.parent
    pdf = book_root / "_build" / "pdf" / "book.pdf"
    if os.environ.get("NNCOURSE_SKIP_BOOK_BUILD") == "1" and pdf.is_file():
        return pdf
    from browser_fixtures import chromium_executable
    if chromium_executable() is None:
        pytest.skip("no Chromium to print the PDF with (tools/install_sysdeps.sh "
                    "installs it)")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "build_pdf.py"),
                           "--book-dir", str(book_root)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, (
        f"make pdf failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return pdf


def first_sentence(soup):
    """The first words of a page's first plain paragraph (no math or code: the PDF's
    text layer spells those differently), or None."""
    for para in soup.select("article p"):
        if (para.find(class_=["math", "pre", "docutils"])
                or para.find_parent(class_="cell")):
            continue
        words = squash(para.get_text(" ")).split(" ")
        if len(words) >= 8 and "nncourse-download" not in para.get("class", []):
            return " ".join(words[:8])
    return None                  # e.g. the glossary: one table


def bare(text):
    """Without whitespace, ligatures spelled out: line breaks in the PDF fall elsewhere
    than in the HTML, and its text layer writes "fi" as one character."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def test_pdf_holds_every_chapter(built_pdf, built_book):
    """Every page of the book is in the PDF, in order (its title and the first words of
    its first paragraph), with Chinese text in an embedded CJK font, typeset math (no
    TeX source left as text) and the figures."""
    from pypdf import PdfReader
    reader = PdfReader(built_pdf)
    text = "\n".join(p.extract_text() or "" for p in reader.pages)
    flat = bare(text)
    at = []
    for doc in toc_files():
        soup = BeautifulSoup((built_book / f"{doc}.html").read_text(encoding="utf-8"),
                             "html.parser")
        title = squash(soup.select_one("article h1").get_text(" ").rstrip("#"))
        start = flat.find(bare(title), at[-1] if at else 0)
        assert start >= 0, f"{doc}: title {title!r} missing (after the page before)"
        words = first_sentence(soup)
        pos = flat.find(bare(words), start) if words else start
        assert pos >= 0, f"{doc}: {words!r} not in the PDF after its title"
        at.append(pos)
    chinese = len(re.findall(r"[\u4e00-\u9fff]", text))
    assert chinese > 500, f"only {chinese} Chinese characters in the PDF"
    fonts, images = set(), 0
    for p in reader.pages:
        res = p.get("/Resources") or {}
        fonts |= {str(f.get_object().get("/BaseFont"))
                  for f in (res.get("/Font") or {}).values()}
        images += sum(x.get_object().get("/Subtype") == "/Image"
                      for x in (res.get("/XObject") or {}).values())
    assert any("WenQuanYi" in f for f in fonts), f"no CJK font in the PDF: {fonts}"
    assert not re.search(r"\\(frac|begin\{|mathbf|partial)", text), "raw TeX in the PDF"
    assert images >= 2 * len(chapter_docs()), f"only {images} images in the PDF"
