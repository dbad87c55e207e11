"""The strictly built book: every page of the table of contents exists and was executed.

The build itself (fixture `built_book`, same command as `make book`) is the test that every chapter
notebook executes without error and that there is no broken reference or warning.
"""
import re

import yaml

from course import ROOT


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
