"""nnutils is one library: chapter <-> module <-> tests <-> assignment line up, chapter modules
import shared modules only, and every primitive is defined once (nnutils/README.md)."""
import ast
from collections import defaultdict

from course import ROOT

SHARED = {"functions", "loop", "gradcheck", "data", "plot", "diagram", "parallel"}
PKG = ROOT / "nnutils"


def chapter_topics():
    """{'ch01_linear': 'linear', ...} from chapters/chNN_<topic>.md."""
    return {p.stem: p.stem.split("_", 1)[1] for p in sorted((ROOT / "chapters").glob("ch[0-9][0-9]_*.md"))}


def modules():
    return sorted(p.stem for p in PKG.glob("*.py") if p.stem != "__init__")


def test_every_chapter_has_its_module_tests_and_assignment():
    for chapter, topic in chapter_topics().items():
        assert (PKG / f"{topic}.py").exists(), f"{chapter}: no nnutils/{topic}.py"
        assert (ROOT / "tests" / f"test_{topic}.py").exists(), f"{chapter}: no tests/test_{topic}.py"
        assert (ROOT / "solutions" / chapter / f"{chapter}.ipynb").exists(), f"{chapter}: no assignment"


def test_every_module_is_a_chapter_topic_or_shared_and_has_one_test_file():
    topics = set(chapter_topics().values())
    for name in modules():
        assert name in topics | SHARED, f"nnutils/{name}.py belongs to no chapter and is not shared"
        assert (ROOT / "tests" / f"test_{name}.py").exists(), f"no tests/test_{name}.py"


def imported_modules(name):
    """nnutils modules that nnutils/<name>.py imports."""
    tree = ast.parse((PKG / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "nnutils":
                found |= {a.name for a in node.names}
            elif node.module.startswith("nnutils."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("nnutils.")}
    return found


def test_chapter_modules_import_shared_modules_only():
    for name in modules():
        others = imported_modules(name) - SHARED
        assert not others, f"nnutils/{name}.py imports chapter module(s) {sorted(others)}"


def test_each_function_is_defined_once_in_the_package():
    where = defaultdict(list)
    for name in modules():
        tree = ast.parse((PKG / f"{name}.py").read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                where[node.name].append(name)
    twice = {f: m for f, m in where.items() if len(m) > 1}
    assert not twice, f"defined in more than one module: {twice}"


def test_nnutils_lines_fit_the_book():
    """The book shows nnutils code by literalinclude: every line within 88 characters."""
    long = [f"nnutils/{p.name}:{n}: {len(line)} characters"
            for p in sorted(PKG.glob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1) if len(line) > 88]
    assert not long, "lines over 88 characters:\n" + "\n".join(long)
