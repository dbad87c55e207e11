"""Book build times (clean and cached) and each chapter's execution time.

Usage: .venv/bin/python benchmarks/bench_book.py [--no-clean]
Builds the book twice with the strict command of `make book`: once from an empty _build (every
notebook executed), once again with nothing changed (jupyter-cache reuses every execution). Then
prints each notebook's execution time as recorded by jupyter-cache for the clean build.
Prints a markdown table to paste into BENCHMARKS.md.
"""
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def build():
    t = time.perf_counter()
    done = subprocess.run([str(BIN / "jupyter-book"), "build", ".", "--warningiserror", "--nitpick",
                           "--keep-going"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the book build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return time.perf_counter() - t


def main():
    if "--no-clean" not in sys.argv:
        shutil.rmtree(ROOT / "_build", ignore_errors=True)
    clean = build()
    cached = build()
    from jupyter_cache import get_cache

    cache = get_cache(ROOT / "_build" / ".jupyter_cache")
    rows = []
    for record in cache.list_cache_records():
        uri = Path(record.uri).name if record.uri else "?"
        rows.append((uri, record.data.get("execution_seconds", float("nan"))))
    print(f"| build | seconds |\n|---|---|\n| clean (all notebooks executed) | {clean:.1f} |\n| cached (nothing changed) | {cached:.1f} |\n")
    print("| notebook | execution seconds |\n|---|---|")
    for uri, sec in sorted(rows):
        print(f"| {uri} | {sec:.1f} |")


if __name__ == "__main__":
    main()
