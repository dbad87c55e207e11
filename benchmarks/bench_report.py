"""Class report build time: `coursegrade report` for a large synthetic class.

    .venv/bin/python benchmarks/bench_report.py --n 500 --repeat 3

Writes the results of N students (tests/report_cases.py: the outcomes of
tests/grading_corpus, cycled; what `coursegrade autograde` leaves in grading/<A>/) into
a temporary course, then builds grading/<A>/report.html --repeat times in this process,
and the similarity check of N honest and copied submissions once. Prints wall and CPU
seconds per build (the first one includes importing matplotlib) and the page's size,
then a row for BENCHMARKS.md.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from report_cases import write_results  # noqa: E402
from grading_corpus import NAME  # noqa: E402


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--similar",
        type=int,
        default=100,
        help="submissions for the similarity timing (pairs grow as n^2; 0: skip)",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        _, w, c = timed(lambda: write_results(course, args.n))
        print(f"wrote {args.n} results in {w:.2f} s")
        from coursegrade import report

        times = []
        for i in range(args.repeat):
            path, w, c = timed(lambda: report.build(course, NAME))
            times.append((w, c))
            print(
                f"build {i + 1}: {w:.2f} s wall, {c:.2f} s CPU"
                + (" (includes importing matplotlib)" if i == 0 else "")
            )
        size = path.stat().st_size
        print(f"report.html: {size / 1e3:.0f} kB")
        warm = times[1:] or times
        row = (
            f"| class report, {args.n} students | first build {times[0][0]:.2f} s wall "
            f"({times[0][1]:.2f} s CPU), then {min(w for w, _ in warm):.2f}-"
            f"{max(w for w, _ in warm):.2f} s wall "
            f"({min(c for _, c in warm):.2f} s CPU) | "
            f"{size / 1e3:.0f} kB |"
        )
        if args.similar:
            from coursegrade import similarity
            from similarity_cases import HONEST, as_document, plant

            authors = list(HONEST.values())
            docs = {
                f"s{i:04d}": as_document(plant(authors[i % len(authors)], i))
                for i in range(args.similar)
            }
            _, w, c = timed(lambda: similarity.compare(docs, ""))
            pairs = args.similar * (args.similar - 1) // 2
            print(
                f"similarity: {args.similar} submissions, {pairs} pairs: "
                f"{w:.2f} s wall, "
                f"{c:.2f} s CPU"
            )
            row += (
                f"\n| similarity, {args.similar} submissions ({pairs} pairs) | "
                f"{w:.2f} s wall ({c:.2f} s CPU) | |"
            )
        print(row)


if __name__ == "__main__":
    main()
