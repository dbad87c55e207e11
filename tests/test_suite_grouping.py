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
