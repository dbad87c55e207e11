"""Command line: `python -m coursegrade autograde ASSIGNMENT` (see coursegrade/README.md).

Also: `report ASSIGNMENT` (the class report page), `stats` (the term's student x
assignment matrix), `similar ASSIGNMENT` (similar submissions).
"""
import argparse
import os
import sys

from coursegrade.batch import CalibrationError, Options, autograde


def size(text):
    """'2G', '512M' or a number of bytes."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def _more_commands():
    from coursegrade import report, similarity
    return {"report": report.main_report, "stats": report.main_stats,
            "similar": similarity.main}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("report", "stats", "similar"):
        return _more_commands()[argv[0]](argv[1:])
    parser = argparse.ArgumentParser(prog="python -m coursegrade", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("report", help="write grading/ASSIGNMENT/report.html (class report)")
    sub.add_parser("stats", help="the term: student x assignment matrix")
    sub.add_parser("similar", help="pairs of similar submissions, side by side")
    ag = sub.add_parser("autograde", help="grade every submission of an assignment")
    ag.add_argument("assignment")
    ag.add_argument("--course", default=".", help="course folder (holds nbgrader_config.py); default: here")
    ag.add_argument("-j", "--workers", type=int, default=os.cpu_count(), help="parallel submissions (default: cores)")
    ag.add_argument("--db-url", help="gradebook URL, e.g. postgresql://user@host/db (default: the course config's)")
    ag.add_argument("--dask", metavar="ADDRESS", help="grade on a Dask cluster: scheduler address, or local:N for N local worker processes")
    ag.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell (default 60)")
    ag.add_argument("--notebook-timeout", type=int, default=600, help="seconds per notebook (default 600)")
    ag.add_argument("--memory", type=size, default=2 * 2**30, help="memory per kernel, e.g. 2G (default)")
    ag.add_argument("--sandbox", choices=["auto", "bwrap", "rlimit"], default="auto",
                    help="bwrap: bubblewrap sandbox; rlimit: resource limits only; auto: bwrap if it works")
    ag.add_argument("--student", action="append", help="grade only this student (repeatable)")
    ag.add_argument("--force", action="store_true", help="re-grade submissions that did not change")
    ag.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    ag.add_argument("--out", help="results folder (default: COURSE/grading/ASSIGNMENT)")
    ag.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    cluster = None
    scheduler = args.dask
    if scheduler and scheduler.startswith("local:"):
        import dask
        from distributed import Client, LocalCluster
        with dask.config.set({"distributed.worker.daemon": False}):   # workers may fork graders
            cluster = LocalCluster(n_workers=int(scheduler[6:]), threads_per_worker=1, processes=True)
        scheduler = Client(cluster)
    opts = Options(workers=args.workers, cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                   memory=args.memory, sandbox=args.sandbox, db_url=args.db_url, scheduler=scheduler,
                   students=args.student, force=args.force, feedback=not args.no_feedback, out=args.out,
                   progress=not args.quiet)
    try:
        rows = autograde(args.course, args.assignment, opts)
    except CalibrationError as e:
        print(f"coursegrade: {e}", file=sys.stderr)
        return 2
    finally:
        if cluster is not None:
            scheduler.close()
            cluster.close()
    try:
        from coursegrade.report import build
        page = build(args.course, args.assignment, rows, args.out)
        print(f"class report: {os.path.relpath(page)}")
    except Exception as e:            # the grades are saved; only the page is missing
        print(f"coursegrade: class report not written: {type(e).__name__}: {e}",
              file=sys.stderr)
    return 1 if any(r["status"] == "failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
