"""Stage a submission for nbgrader: a copy of the student's folder, normalised against the release.

nbgrader decides what a cell is (a test, its points, a solution, locked) from the cell's own
metadata, which the student can edit (JupyterLab's property inspector, a copy-pasted cell, a text
editor). Its sanitize steps either believe the edit or reject the whole notebook: a copied
solution cell is left with empty nbgrader metadata (DeduplicateIds) that CheckCellMetadata
refuses, and so does an unknown schema version, so an honest student's work would be `failed`.
`stage` makes the release notebook the only truth: the first cell with a released grade_id gets
the release's nbgrader metadata back, every other nbgrader metadata is removed (those cells are the
student's own, executed but never graded), and the kernel is the release's. nbgrader then grades
the staged copy; the student's folder in submitted/ is only read, never changed.
"""
import copy
import os
import shutil
import stat
from pathlib import Path

import nbformat

REFUSED = {"symlink": "symbolic links", "hardlink": "hard links (files shared with another place)",
           "special-file": "files that are neither regular files nor folders"}


def stage(submitted_dir, source_dir, release_dir, staging_dir):
    """Copy `submitted_dir` to `staging_dir` (which must not exist) and normalise its notebooks.

    Returns (problems, unusable): unusable lists the notebooks nbgrader cannot grade at all
    (unreadable; or every one missing, where nbgrader would stop with "No notebooks found"; or
    all of them when the folder holds links, which nbgrader would follow as the instructor). In
    those cases the staged copy is incomplete or absent and nbgrader must not run.
    """
    expected = [p.stem for p in sorted(Path(source_dir).glob("*.ipynb"))]
    problems = refuse_links(Path(submitted_dir))
    if problems:
        return problems, expected
    copy_folder(Path(submitted_dir), Path(staging_dir))
    corrupt, missing = [], []
    for name in expected:
        path = Path(staging_dir, f"{name}.ipynb")
        if not path.exists():
            missing.append(name)
            problems.append({"kind": "missing", "cell": None, "detail": f"no {name}.ipynb in the submission (scored 0)"})
            continue
        try:
            nb = nbformat.read(path, as_version=4)
            nbformat.validate(nb)
        except Exception as e:
            corrupt.append(name)
            problems.append({"kind": "corrupt", "cell": None, "detail": f"{name}.ipynb is not a readable notebook "
                             f"(scored 0): {(str(e).splitlines() or [type(e).__name__])[0][:200]}"})
            continue
        release = Path(release_dir, f"{name}.ipynb")
        if release.exists():
            problems += normalise(nb, nbformat.read(release, as_version=4))
            nbformat.write(nb, path)
    if corrupt or len(missing) == len(expected):
        return problems, expected
    return problems, []


def refuse_links(folder):
    """Problems that stop grading: links, which nbgrader would follow (to solutions/, say), and special files."""
    found = {kind: [] for kind in REFUSED}
    for root, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            mode = os.lstat(os.path.join(root, name))
            rel = os.path.relpath(os.path.join(root, name), folder)
            if stat.S_ISLNK(mode.st_mode):
                found["symlink"].append(rel)
            elif stat.S_ISREG(mode.st_mode) and mode.st_nlink > 1:
                found["hardlink"].append(rel)
            elif not (stat.S_ISREG(mode.st_mode) or stat.S_ISDIR(mode.st_mode)):
                found["special-file"].append(rel)
    return [{"kind": kind, "cell": None, "detail": f"not graded (scored 0): the submission contains "
             f"{REFUSED[kind]}: {', '.join(paths[:5])}"} for kind, paths in found.items() if paths]


def copy_folder(src, dst):
    """Copy file contents only: the copy is writable and removable whatever modes the student's files had."""
    for root, _, files in os.walk(src):
        target = dst / os.path.relpath(root, src)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copyfile(os.path.join(root, name), target / name)


def normalise(nb, release):
    """Reset `nb`'s nbgrader metadata and kernel to the release's, in place; return the problems."""
    problems, released, seen = [], {}, set()
    for cell in release.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid is not None:
            released.setdefault(gid, cell)
    for cell in nb.cells:
        if "nbgrader" not in cell.metadata:
            continue
        meta = cell.metadata.nbgrader
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        known = isinstance(gid, str) and gid in released
        if known and gid not in seen:
            seen.add(gid)
            changed = restore(cell, released[gid])
            if changed:
                problems.append({"kind": "edited-metadata", "cell": gid, "detail": "grading metadata edited "
                                 f"({', '.join(changed)}): reset to the release's"})
            continue
        del cell.metadata["nbgrader"]
        if known:
            problems.append({"kind": "duplicate-cell", "cell": gid, "detail": "another cell with this grade id "
                             "(a copy?): run as the student's own cell, not graded"})
        else:
            problems.append({"kind": "edited-metadata", "cell": gid[:100] if isinstance(gid, str) else None,
                             "detail": "nbgrader metadata of a cell the release does not have, or malformed: "
                             "removed (run as the student's own cell, not graded)"})
    problems += locked_cell_changes(nb, release)
    if nb.metadata.get("kernelspec") != release.metadata.get("kernelspec"):
        problems.append({"kind": "edited-metadata", "cell": None, "detail": "kernelspec edited: reset to the release's"})
    for key in ("kernelspec", "language_info"):     # language_info: rewritten by Jupyter on every save
        nb.metadata.pop(key, None)
        if key in release.metadata:
            nb.metadata[key] = copy.deepcopy(release.metadata[key])
    return problems


def restore(cell, released):
    """Give `cell` the released cell's nbgrader metadata (and type, if that is code); return what differed."""
    mine, truth = cell.metadata.nbgrader, released.metadata.nbgrader
    changed = sorted(k for k in set(mine) | set(truth) if k not in mine or k not in truth or mine[k] != truth[k])
    cell.metadata.nbgrader = copy.deepcopy(truth)
    if released.cell_type == "code" and cell.cell_type != "code":     # else a test would not run
        cell.cell_type, cell.outputs, cell.execution_count = "code", [], None
        cell.pop("attachments", None)
        changed.append("cell type")
    return changed


def locked_cell_changes(nb, release):
    """Deleted or edited locked cells (nbgrader restores them: OverwriteCells.add_missing_cells)."""
    mine = {}
    for cell in nb.cells:
        mine.setdefault(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source)
    problems = []
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("locked"):
            continue
        gid = meta["grade_id"]
        if gid not in mine:
            problems.append({"kind": "deleted-cell", "cell": gid, "detail": "a locked cell was deleted (restored for grading)"})
        elif mine[gid].strip() != cell.source.strip():
            problems.append({"kind": "edited-cell", "cell": gid, "detail": "a locked cell was edited (restored for grading)"})
    return problems
