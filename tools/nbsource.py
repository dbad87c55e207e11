"""Tiny helpers for writing nbgrader source notebooks from Python (used by tools/author_*.py).

Each helper returns an nbformat cell carrying the nbgrader metadata that marks it as
instructions (locked markdown), a solution region, or an autograded test cell.
"""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    m = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
         "solution": solution, "task": False}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def text(grade_id, source):
    """Locked markdown: instructions students cannot edit."""
    return new_markdown_cell(source, metadata=_meta(grade_id, locked=True))


def setup(grade_id, source):
    """Locked code cell (imports, data), run before the tasks."""
    return new_code_cell(source, metadata=_meta(grade_id, locked=True))


def solution(grade_id, source):
    """Code cell whose ### BEGIN/END SOLUTION region students replace."""
    return new_code_cell(source, metadata=_meta(grade_id, solution=True))


def tests(grade_id, source, points):
    """Locked, autograded test cell: visible asserts, then ### BEGIN/END HIDDEN TESTS."""
    return new_code_cell(source, metadata=_meta(grade_id, grade=True, locked=True, points=points))


def write(path, cells):
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    nbformat.write(nb, path)
