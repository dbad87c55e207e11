"""Grading throughput: stock serial `nbgrader autograde` vs `python -m coursegrade autograde`.

    .venv/bin/python benchmarks/bench_grading.py --n 200 --workers 2

Writes one course with N simulated submissions of the corpus' frozen ch01_linear assignment
(tests/grading_corpus: correct, partly wrong, blank, cycled) and copies it, so each tool starts from the same files and a fresh gradebook.
Both must give every student the expected score. Prints wall time, submissions per second, seconds
per submission, and CPU seconds per submission (of each tool's whole process tree, kernels
included: see `timed`), then a row for BENCHMARKS.md. coursegrade's time includes its
calibration run and, unlike stock nbgrader, the clean re-check of every test; --feedback adds
feedback generation to both.
"""
import argparse
import csv
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from course import nbgrader, read_grades  # noqa: E402
from grading_corpus import NAME, make_course, write_class  # noqa: E402

BIN = Path(sys.executable).parent
ENV = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def timed(cmd, cwd):
    """Run cmd; return (wall seconds, CPU seconds of the whole process tree).

    CPU comes from a cpuacct cgroup when we may create one: getrusage misses the sandboxed
    kernels (bubblewrap's PID-namespace init never passes its children's times up). Otherwise it
    falls back to getrusage (an undercount for coursegrade, marked with a *).
    """
    group = CPUACCT / f"bench-grading-{os.getpid()}-{time.monotonic_ns()}"
    try:
        group.mkdir()
    except OSError:
        group = None
    join = (lambda: (group / "cgroup.procs").write_text(str(os.getpid()))) if group else None
    r0, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, preexec_fn=join)
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    if group is not None:
        cpu = int((group / "cpuacct.usage").read_text()) / 1e9
        time.sleep(0.5)
        group.rmdir()
        return wall, cpu
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    global CPU_NOTE
    CPU_NOTE = "*"
    return wall, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)


CPU_NOTE = ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--feedback", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    stock = make_course(tmp / "stock")
    nbgrader(stock, "generate_assignment", NAME, "--force")
    expected = write_class(stock, args.n)
    ours = tmp / "ours" / "course"
    shutil.copytree(stock, ours)
    print(f"{args.n} submissions of {NAME}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    wall_s, cpu_s = timed([str(BIN / "nbgrader"), "autograde", NAME], stock)
    if args.feedback:
        w, c = timed([str(BIN / "nbgrader"), "generate_feedback", NAME], stock)
        wall_s, cpu_s = wall_s + w, cpu_s + c
    got = read_grades(stock)
    bad_stock = [s for s, v in expected.items() if got[(NAME, s)][0] != v]

    cmd = [sys.executable, "-m", "coursegrade", "autograde", NAME, "-j", str(args.workers), "--quiet", "--force"]
    wall_c, cpu_c = timed(cmd + ([] if args.feedback else ["--no-feedback"]), ours)
    with open(ours / "grading" / NAME / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    bad_ours = [s for s, v in expected.items() if rows[s]["score"] == "" or float(rows[s]["score"]) != v]
    flagged = [s for s, r in rows.items() if r["status"] != "ok"]

    n = args.n
    print(f"stock nbgrader autograde (serial): {wall_s:7.1f} s wall, {n / wall_s:5.2f} sub/s, "
          f"{wall_s / n:5.2f} s/sub, {cpu_s / n:5.2f} CPU s/sub, wrong scores: {len(bad_stock)}")
    print(f"coursegrade -j {args.workers}:{'':17}{wall_c:7.1f} s wall, {n / wall_c:5.2f} sub/s, "
          f"{wall_c / n:5.2f} s/sub, {cpu_c / n:5.2f} CPU s/sub, wrong scores: {len(bad_ours)}, flagged: {len(flagged)}")
    print(f"throughput ratio coursegrade/stock: {wall_s / wall_c:.2f}x; CPU per submission ratio: {cpu_c / cpu_s:.2f}x{CPU_NOTE}")
    print(f"| {n} | {args.workers} | {'yes' if args.feedback else 'no'} | {wall_s:.0f} s ({n / wall_s:.2f}/s) | "
          f"{wall_c:.0f} s ({n / wall_c:.2f}/s) | {wall_s / wall_c:.2f}x | {cpu_s / n:.2f} | {cpu_c / n:.2f}{CPU_NOTE} | "
          f"{os.getloadavg()[0]:.1f} |")
    shutil.rmtree(tmp, ignore_errors=True)
    if bad_stock or bad_ours:
        sys.exit(f"wrong scores: stock {bad_stock[:5]}, coursegrade {bad_ours[:5]}")


if __name__ == "__main__":
    main()
