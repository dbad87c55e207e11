"""The suite's work units under `make test` (pytest-xdist --dist loadgroup, tests/conftest.py).

pytest 9 keeps a node's id where pytest-xdist 3.8 cannot add its group suffix, so every test
became its own unit and module fixtures (a graded corpus, an assignment's course) were built
again on the other worker; requirements.txt pins pytest 8.4 for that reason. This fails if
the grouping is lost again."""
import pytest


def test_tests_of_a_module_form_one_xdist_group(request):
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("runs only under pytest-xdist --dist loadgroup (make test)")
    assert request.node.nodeid.endswith("@test_suite_grouping"), request.node.nodeid


def test_the_book_tests_form_one_group(request):
    from conftest import BOOK_MODULES

    tests = [i for i in request.session.items if i.module.__name__ in BOOK_MODULES]
    if not tests:
        pytest.skip("no test of the book is selected in this run")
    groups = {m.args[0] for i in tests for m in i.iter_markers("xdist_group")}
    assert groups == {"book"}, groups
