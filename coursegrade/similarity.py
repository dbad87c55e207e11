"""Similar submissions: the students' solution cells compared pairwise with copydetect.

    python -m coursegrade similar ch01_linear [--earlier DIR] [--threshold 0.5]

copydetect (MIT) fingerprints code as MOSS does: pygments tokens with every name
replaced by one letter (so renaming variables or functions changes nothing) and comments
and whitespace dropped, hashed in k-grams, and winnowed; two documents share code where
they share fingerprints, wherever in the file it stands (so reordering functions changes
little).

What is compared, per student: the code of the release's solution cells (matched by
grade_id) in their submitted notebooks. The starter code is excluded: every fingerprint
of the release's cells (stubs, setup, visible tests) is boilerplate and never counts as
shared. A folder of earlier terms' submissions (`--earlier`, any `*.ipynb` below it) is
compared with this term's students, not with itself. A pair is listed when the larger of
its two similarities (the share of one student's fingerprinted code found in the
other's) reaches the threshold and they share at least `min_tokens` tokens;
`similarity.html` shows each pair side by side with the shared code highlighted. How
well this separates copies from honest work on a short assignment is measured in
tests/test_similarity.py (rates in coursegrade/README.md).
"""

import argparse
import html
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
from copydetect import CodeFingerprint, compare_files

NOISE = 20  # k: shortest shared run (filtered characters) that counts
GUARANTEE = 20  # every shared run this long is found (winnowing window = 1)
THRESHOLD = 0.5
MIN_TOKENS = 40


@dataclass
class Pair:
    a: str
    b: str
    similarity: float  # max(sim_a, sim_b)
    sim_a: float  # share of a's fingerprinted code found in b
    sim_b: float
    shared: int  # shared tokens (filtered characters) in a
    slices_a: np.ndarray  # 2 x n: starts and ends of shared code in a's text
    slices_b: np.ndarray


def solution_ids(release_nb):
    return [
        c.metadata["nbgrader"]["grade_id"]
        for c in release_nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    ]


def solution_code(nb, ids):
    """The source of the cells whose grade_id is one of `ids`, in notebook order."""
    parts = []
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.get("cell_type") == "code" and gid in ids:
            parts.append(f"# cell {gid}\n{cell.source}\n")
    return "\n".join(parts)


def starter_code(release_nbs):
    """What students were given: every code cell of the released notebooks, and their
    solution cells joined as a submission's are (so that runs across two untouched stubs
    are starter code too)."""
    cells = "\n".join(
        c.source for nb in release_nbs for c in nb.cells if c.cell_type == "code"
    )
    stubs = "\n".join(solution_code(nb, solution_ids(nb)) for nb in release_nbs)
    return cells + "\n" + stubs


def fingerprint(code, boilerplate=None, k=NOISE, window=GUARANTEE - NOISE + 1):
    return CodeFingerprint(
        "submission.py", k, window, boilerplate, language="python", fp=io.StringIO(code)
    )


def boilerplate_hashes(code, k=NOISE):
    return np.unique(np.array(list(fingerprint(code, k=k, window=1).hashes)))


def compare(
    docs, starter, threshold=THRESHOLD, earlier=None, min_tokens=MIN_TOKENS, k=NOISE
):
    """Pairs above `threshold`, most similar first.

    docs, earlier: {name: code}; pairs are docs x docs and docs x earlier.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    bp = boilerplate_hashes(starter, k) if starter.strip() else None
    prints = {n: fingerprint(c, bp, k) for n, c in docs.items()}
    old = {n: fingerprint(c, bp, k) for n, c in (earlier or {}).items()}
    names = sorted(prints)
    candidates = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    candidates += [(a, b) for a in names for b in sorted(old)]
    pairs = []
    for a, b in candidates:
        fa, fb = prints[a], prints.get(b) or old[b]
        shared, (sa, sb), (la, lb) = compare_files(fa, fb)
        if shared >= min_tokens and max(sa, sb) >= threshold:
            pairs.append(
                Pair(
                    a,
                    b,
                    float(max(sa, sb)),
                    float(sa),
                    float(sb),
                    int(shared),
                    np.asarray(la, dtype=int),
                    np.asarray(lb, dtype=int),
                )
            )
    return sorted(pairs, key=lambda p: (-p.similarity, p.a, p.b))


def scores(docs, starter, k=NOISE):
    """{(a, b): max similarity} for every pair of docs (for measuring rates)."""
    bp = boilerplate_hashes(starter, k) if starter.strip() else None
    prints = {n: fingerprint(c, bp, k) for n, c in docs.items()}
    names = sorted(prints)
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared, (sa, sb), _ = compare_files(prints[a], prints[b])
            out[a, b] = (float(max(sa, sb)), int(shared))
    return out


def _read(path, ids):
    try:
        return solution_code(nbformat.read(path, as_version=4), ids)
    except Exception:  # corrupt or not a notebook: nothing to compare
        return None


def collect(course, assignment, earlier=None):
    """({student: code}, {earlier name: code}, starter code, [skipped notes])."""
    from coursegrade.report import _config_dir

    course = Path(course)
    release_dir = (
        course / _config_dir(course, "release_directory", "release") / assignment
    )
    releases = sorted(release_dir.glob("*.ipynb"))
    if not releases:
        raise FileNotFoundError(f"no released notebook in {release_dir}")
    release_nbs = [nbformat.read(p, as_version=4) for p in releases]
    ids = {gid for nb in release_nbs for gid in solution_ids(nb)}
    docs, skipped = {}, []
    submitted = course / _config_dir(course, "submitted_directory", "submitted")
    for folder in sorted(submitted.glob(f"*/{assignment}")):
        student = folder.parent.name
        parts = []
        for rel in releases:
            path = folder / rel.name
            if path.is_symlink() or not path.is_file():
                skipped.append(f"{student}: no {rel.name}")
                continue
            code = _read(path, ids)
            if code is None:
                skipped.append(f"{student}: {rel.name} is not a readable notebook")
            else:
                parts.append(code)
        if parts:
            docs[student] = "\n".join(parts)
    old = {}
    if earlier:
        earlier = Path(earlier)
        if not earlier.is_dir():
            raise FileNotFoundError(f"--earlier {earlier} is not a folder")
        for path in sorted(earlier.rglob("*.ipynb")):
            code = _read(path, ids)
            if code is not None and not path.is_symlink():
                old["earlier:" + str(path.relative_to(earlier))] = code
    return docs, old, starter_code(release_nbs), skipped


def _highlighted(code, slices):
    if slices.size == 0:
        return html.escape(code)
    order = np.argsort(slices[0])
    out, pos = [], 0
    for start, end in zip(slices[0][order], slices[1][order]):
        start, end = max(int(start), pos), int(end)
        if end <= start:
            continue
        out += [
            html.escape(code[pos:start]),
            "<mark>",
            html.escape(code[start:end]),
            "</mark>",
        ]
        pos = end
    out.append(html.escape(code[pos:]))
    return "".join(out)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'">
<title>Similar submissions: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; }}
table.pair {{ width: 100%; border-collapse: collapse; table-layout: fixed; }}
table.pair td {{ vertical-align: top; border: 1px solid #ccc; padding: 0.4em; }}
pre {{ white-space: pre-wrap; font-size: 12px; margin: 0; }}
mark {{ background: #ffd27f; }}
h2 {{ font-size: 1.05em; margin-top: 2em; }}
</style></head><body>
<h1>Similar submissions: {title}</h1>
<p>{intro}</p>
{body}
</body></html>
"""


def render_html(pairs, docs, earlier, assignment, threshold, skipped=()):
    allcode = {**docs, **(earlier or {})}
    intro = (
        f"{len(docs)} submissions compared with each other"
        + (f" and with {len(earlier)} earlier submissions" if earlier else "")
        + f" (copydetect, k={NOISE}); starter code excluded. {len(pairs)} pairs with "
        f"similarity &ge; {threshold:.0%}. Shared code is highlighted. A high "
        "similarity is a reason to look, not a verdict."
    )
    if skipped:
        intro += " Not compared: " + html.escape("; ".join(skipped)) + "."
    body = []
    for i, p in enumerate(pairs, 1):
        body.append(
            f'<h2 id="pair{i}">{i}. {html.escape(p.a)} &harr; {html.escape(p.b)}: '
            f"{p.similarity:.0%} (of {html.escape(p.a)}: {p.sim_a:.0%}, of "
            f"{html.escape(p.b)}: {p.sim_b:.0%}; {p.shared} shared tokens)</h2>"
            '<table class="pair"><tr>'
            f"<td><pre>{_highlighted(allcode[p.a], p.slices_a)}</pre></td>"
            f"<td><pre>{_highlighted(allcode[p.b], p.slices_b)}</pre></td></tr></table>"
        )
    if not pairs:
        body.append("<p>No pair reaches the threshold.</p>")
    return PAGE.format(title=html.escape(assignment), intro=intro, body="\n".join(body))


def run(course, assignment, earlier=None, threshold=THRESHOLD, out=None):
    """Compare; write grading/<A>/similarity.html and .json; return (pairs, page)."""
    docs, old, starter, skipped = collect(course, assignment, earlier)
    pairs = compare(docs, starter, threshold, old)
    out = Path(out or Path(course) / "grading" / assignment)
    out.mkdir(parents=True, exist_ok=True)
    page = out / "similarity.html"
    page.write_text(render_html(pairs, docs, old, assignment, threshold, skipped))
    (out / "similarity.json").write_text(
        json.dumps(
            [
                {
                    "a": p.a,
                    "b": p.b,
                    "similarity": round(p.similarity, 4),
                    "sim_a": round(p.sim_a, 4),
                    "sim_b": round(p.sim_b, 4),
                    "shared_tokens": p.shared,
                }
                for p in pairs
            ],
            indent=1,
        )
    )
    return pairs, page


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m coursegrade similar",
        description="list pairs of similar submissions",
    )
    ap.add_argument("assignment")
    ap.add_argument("--course", default=".")
    ap.add_argument(
        "--earlier", help="folder of earlier terms' submissions (*.ipynb below it)"
    )
    ap.add_argument(
        "--threshold",
        type=float,
        default=THRESHOLD,
        help=f"list pairs at or above this similarity (default {THRESHOLD})",
    )
    ap.add_argument(
        "--out", help="folder for similarity.html (default grading/ASSIGNMENT)"
    )
    args = ap.parse_args(argv)
    try:
        pairs, page = run(
            args.course, args.assignment, args.earlier, args.threshold, args.out
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"coursegrade similar: {e}", file=sys.stderr)
        return 2
    for p in pairs:
        print(f"{p.similarity:6.0%}  {p.a}  {p.b}")
    print(f"{len(pairs)} similar pairs; side by side: {os.path.relpath(page)}")
    return 0
