"""coursegrade.similarity: finds disguised copies, leaves honest independent work alone.

Rates measured on ch01_linear (tests/similarity_cases.py): every honest author's
solutions copied three times (renamed, reordered, commented) must be found; pairs of
independent honest authors must not be listed. The numbers are printed and stated in
coursegrade/README.md.
"""

import json
import re
import shutil

import nbformat
import numpy as np
import pytest
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from coursegrade import similarity
from grading_corpus import NAME, ROOT, SOURCE, notebook, write_submission
from similarity_cases import HONEST, as_document, plant

COPIES_PER_AUTHOR = 3


def release(nb):
    for step in (ClearSolutions(), ClearHiddenTests()):
        nb, _ = step.preprocess(nb, {})
    return nb


@pytest.fixture(scope="module")
def starter():
    return similarity.starter_code([release(nbformat.read(SOURCE, as_version=4))])


def rates(starter, threshold=similarity.THRESHOLD):
    honest = {name: as_document(a) for name, a in HONEST.items()}
    copies = {
        f"copy{s}_of_{name}": as_document(plant(a, 97 * i + s))
        for i, (name, a) in enumerate(HONEST.items())
        for s in range(COPIES_PER_AUTHOR)
    }
    listed = {
        (p.a, p.b) for p in similarity.compare({**honest, **copies}, starter, threshold)
    }
    planted = [(c, c.split("_of_", 1)[1]) for c in copies]
    found = [pair for pair in planted if tuple(sorted(pair)) in listed]
    names = sorted(honest)
    honest_pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    flagged = [pair for pair in honest_pairs if pair in listed]
    return found, planted, flagged, honest_pairs


def test_planted_copies_found_honest_pairs_not(starter):
    found, planted, flagged, honest_pairs = rates(starter)
    detection, false_pos = len(found) / len(planted), len(flagged) / len(honest_pairs)
    print(
        f"\ndetection {len(found)}/{len(planted)} = {detection:.0%}; "
        f"false positives {len(flagged)}/{len(honest_pairs)} = {false_pos:.1%} "
        f"{flagged}"
    )
    assert len(planted) == COPIES_PER_AUTHOR * len(HONEST) and len(honest_pairs) >= 40
    assert detection >= 0.95, f"missed copies: {sorted(set(planted) - set(found))}"
    assert false_pos <= 0.05, f"honest pairs listed: {flagged}"


def test_copy_is_really_disguised():
    """The planted copy differs in names, order and comments (else rates say little)."""
    original = HONEST["dot"]["network_forward"]
    copy = plant(HONEST["dot"], 1)["network_forward"]
    words = set(re.findall(r"\w+", copy))
    assert not words & {"sigmoid", "out", "W", "b", "i"} and "#" in copy
    assert copy.index("def network_forward") < copy.index(
        "return 1.0 /"
    )  # helper moved down
    assert original.index("def sigmoid") < original.index("def network_forward")
    ns = {"np": np}
    exec(copy, ns)  # and still works
    params = [(np.eye(2), np.zeros(2)), (np.eye(2), np.ones(2))]
    assert np.allclose(ns["network_forward"](np.zeros(2), params), 1.5)


def test_starter_code_is_not_shared_code(starter):
    """Two students who submit the release's stubs unchanged share nothing."""
    stub = "def {}(X, W, b):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    blank = as_document(
        {
            "linear_scores": stub.format("linear_scores"),
            "bias_trick": stub.format("bias_trick"),
        }
    )
    assert (
        similarity.compare({"a": blank, "b": blank}, starter, 0.01, min_tokens=1) == []
    )
    # without the exclusion the same pair would be listed
    assert similarity.compare({"a": blank, "b": blank}, "", 0.5, min_tokens=1)


def test_bad_threshold_is_refused(starter):
    with pytest.raises(ValueError, match="threshold"):
        similarity.compare({}, starter, 1.5)


def test_course_folder_earlier_terms_and_html(tmp_path):
    """End to end on a course folder: submissions, an earlier term, the HTML page."""
    course = tmp_path / "course"
    (course / "exercises" / NAME).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)  # release_directory: exercises/
    nbformat.write(
        release(nbformat.read(SOURCE, as_version=4)),
        course / "exercises" / NAME / f"{NAME}.ipynb",
    )
    subs = {
        "alice": HONEST["corpus_correct"],
        "bob": HONEST["einsum"],
        "carol": plant(HONEST["einsum"], 5),
        "dave": {},
        "erin": {},
    }
    for student, answers in subs.items():
        write_submission(course, student, notebook(course, answers))
    write_submission(course, "frank", '{"not json')
    earlier = tmp_path / "2025"
    (earlier / "zoe" / NAME).mkdir(parents=True)
    nbformat.write(
        notebook(course, plant(HONEST["loops"], 3)), earlier / "zoe" / NAME / "x.ipynb"
    )
    write_submission(course, "gina", notebook(course, HONEST["loops"]))

    pairs, page = similarity.run(course, NAME, earlier=earlier)
    listed = {(p.a, p.b) for p in pairs}
    assert listed == {("bob", "carol"), ("gina", f"earlier:zoe/{NAME}/x.ipynb")}, listed
    text = page.read_text()
    assert page == course / "grading" / NAME / "similarity.html"
    assert (
        text.count("<mark>") >= 4
        and "frank" in text
        and "not a readable notebook" in text
    )
    assert "BEGIN HIDDEN" not in text and "default-src 'none'" in text
    saved = json.loads((page.parent / "similarity.json").read_text())
    assert {(p["a"], p["b"]) for p in saved} == listed
    assert all(p["similarity"] >= similarity.THRESHOLD for p in saved)
    with pytest.raises(FileNotFoundError, match="earlier"):
        similarity.run(course, NAME, earlier=tmp_path / "nowhere")
