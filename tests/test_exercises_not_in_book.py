"""The book must not hand students the answers to their exercises.

The chapters teach with nnutils code (shown via literalinclude) and code cells; the exercises ask
for related functions that the book does not print. For every solution region of every
assignment, at most a third of its substantive lines may appear anywhere in what the book
publishes (chapters/*.md and nnutils/*.py, the sources of all code on the pages), and a region of
one or two substantive lines may not appear at all. "Substantive": at least 16 characters after
whitespace is squashed, not a comment, and not boilerplate that any solution would share with the
book (unpacking a shape, a loop header, returning plain names, empty-list set-up, optimizer calls).
"""
import re

import nbformat
import pytest

from course import ROOT, assignments


BOILERPLATE = re.compile("|".join([
    r"^[\w, ]+ = [\w.]+\.shape(\[-?\d\])?$",          # N, C, H, W = x.shape
    r"^for .+ in (range|enumerate|zip|reversed)\(.*\):$",  # loop headers
    r"^return [\w, ]+$",                                  # return a, b
    r"^[\w, ]+ = \[\](, \[\])*$",                         # xs, ys = [], []
    r"^[\w.]+\.(zero_grad|step|backward)\(\)$",            # opt.zero_grad() / loss.backward()
]))


def squash(s):
    return re.sub(r"\s+", " ", s).strip()


def published():
    files = sorted((ROOT / "nnutils").glob("*.py")) + sorted((ROOT / "chapters").glob("*.md"))
    return {squash(l) for p in files for l in p.read_text(encoding="utf-8").splitlines()}


def solution_regions(name):
    """(grade_id, [substantive lines]) for each solution region of an assignment's source."""
    nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    regions = []
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        inside, lines = False, None
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line:
                inside, lines = True, []
            elif "END SOLUTION" in line:
                inside = False
                regions.append((gid, lines))
            elif inside:
                s = squash(line)
                if len(s) >= 16 and not s.startswith("#") and not BOILERPLATE.match(s):
                    lines.append(s)
    return regions


@pytest.mark.parametrize("name", assignments())
def test_book_does_not_print_the_solutions(name):
    book = published()
    problems = []
    for gid, lines in solution_regions(name):
        shown = [l for l in lines if l in book]
        limit = 0 if len(lines) <= 2 else len(lines) / 3
        if len(shown) > limit:
            problems.append(f"{gid}: {len(shown)}/{len(lines)} solution lines are printed in the book, e.g. {shown[:3]}")
    assert not problems, "\n".join(problems)
