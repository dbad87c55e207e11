"""Execute every chapter as other CPUs would, to catch claims that hold on one CPU only.

Training results depend on the CPU in their last digits: PyTorch, oneDNN, MKL, OpenBLAS and
NumPy each pick kernels by the instruction sets they find (AVX-512 on one machine, AVX2 on the
next), and a long training run turns last digits into different curves. The book's hidden
asserts check what its text claims, so a claim tuned on one machine can fail the build on
another (this happened: a bound at 0.515 met 0.5148). This script runs each chapter with the
libraries capped to an instruction set, the way an AVX2-only or a plain x86-64 machine runs
them, and lists every cell that raises.

    .venv/bin/python tools/chapters_across_cpus.py [--isa native|avx2|scalar] [ch06_cnn ...]

It takes about as long as a clean book build (4 minutes on 2 cores); run it after changing an
experiment or a claim about one. The outputs land in _build/across_cpus/<isa>/.
"""
import argparse
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CAPS = {   # environment variables each library reads to cap the instruction set it uses
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2", "OPENBLAS_CORETYPE": "Haswell",
             "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"},
    "scalar": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
               "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "OPENBLAS_CORETYPE": "Nehalem",
               "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"},
}


def execute(path, out_dir):
    """Run one chapter (errors allowed); return (name, [(cell index, error line)])."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    NotebookClient(nb, timeout=600, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, out_dir / f"{path.stem}.ipynb")
    errors = [(i, f"{o.ename}: {o.evalue}"[:300], failing_line(o.traceback))
              for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
              for o in cell.get("outputs", []) if o.output_type == "error"]
    return path.stem, errors


def failing_line(traceback):
    """The source line IPython marks with an arrow in the cell's traceback."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", part) for t in traceback for part in t.splitlines()]
    marked = [line for line in lines if line.lstrip().startswith("---->")]
    return (marked[-1] if marked else lines[-1] if lines else "").strip()[:160]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--isa", choices=CAPS, default="avx2")
    parser.add_argument("chapters", nargs="*", help="stems such as ch06_cnn (default all)")
    args = parser.parse_args()
    os.environ.update(CAPS[args.isa])      # the kernels inherit it
    names = args.chapters or sorted(p.stem for p in (ROOT / "chapters").glob("ch*.md"))
    paths = [ROOT / "chapters" / f"{n}.md" for n in names]
    missing = [n for n, p in zip(names, paths) if not p.exists()]
    if missing:
        parser.error(f"no chapter {', '.join(missing)} in chapters/")
    out_dir = ROOT / "_build" / "across_cpus" / args.isa
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    with ProcessPoolExecutor(2) as pool:
        for name, errors in pool.map(execute, paths, [out_dir] * len(paths)):
            print(f"{name}: {'ok' if not errors else f'{len(errors)} failing cell(s)'}",
                  flush=True)
            for i, error, last in errors:
                print(f"    cell {i}: {error}\n        at: {last}", flush=True)
            failed += bool(errors)
    print(f"--isa {args.isa}: {failed} of {len(paths)} chapters failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
