"""Static facts about a notebook's cells: whose they are, what names they bind and use.

Nothing here runs student code: sources are only parsed (after IPython's own input transforms, so
`%magic` lines parse).
"""
import ast
from dataclasses import dataclass, field

from IPython.core.inputtransformer2 import TransformerManager

_transformer = TransformerManager()


def python_source(source):
    """The Python that IPython would run for a cell (magics become function calls)."""
    try:
        return _transformer.transform_cell(source)
    except Exception:
        return source


def parse(source):
    try:
        return ast.parse(python_source(source))
    except (SyntaxError, ValueError):
        return None


def cell_kind(cell):
    """'test' (graded, locked), 'instructor' (other locked code), 'student' (everything else)."""
    meta = cell.metadata.get("nbgrader", {})
    if cell.cell_type != "code":
        return None
    if meta.get("solution"):
        return "student"
    if meta.get("grade"):
        return "test"
    if meta.get("locked"):
        return "instructor"
    return "student"


def bindings(tree):
    """Names a cell binds at top level: {name: None, or the imported module for imports}."""
    out = {}

    def visit(stmts):
        for node in stmts:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out[node.name] = None
                for inner in ast.walk(node):          # `global x` inside a function binds x
                    if isinstance(inner, ast.Global):
                        out.update(dict.fromkeys(inner.names))
                continue
            if isinstance(node, ast.Import):
                for a in node.names:
                    out[a.asname or a.name.split(".")[0]] = (a.name if a.asname else a.name.split(".")[0], True)
                continue
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name != "*":
                        out[a.asname or a.name] = (f"{node.module or ''}.{a.name}".lstrip("."), False)
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    out[sub.id] = None
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    out[sub.name] = None
            for field_name in ("body", "orelse", "finalbody", "handlers"):
                visit(getattr(node, field_name, []) or [])

    if tree is not None:
        visit(tree.body)
    return out


def loads(tree):
    """Every name a cell reads, anywhere in it."""
    if tree is None:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


SUSPICIOUS_NAMES = {
    "builtins": "touches builtins", "__builtins__": "touches builtins", "ctypes": "uses ctypes",
    "gc": "uses gc", "__import__": "imports dynamically", "importlib": "imports dynamically",
    "exec": "uses exec", "eval": "uses eval", "socket": "uses sockets",
    "subprocess": "starts processes", "signal": "uses signals", "nnutils": "uses nnutils",
}
SUSPICIOUS_ATTRS = {
    "modules": "touches sys.modules", "_getframe": "inspects stack frames",
    "currentframe": "inspects stack frames", "f_back": "inspects stack frames",
    "f_globals": "inspects stack frames", "f_locals": "inspects stack frames",
    "kill": "sends signals", "killpg": "sends signals", "system": "runs shell commands",
    "__code__": "touches code objects", "__globals__": "touches function globals",
}


def suspicious(tree, modules):
    """Why a student cell looks like tampering (attribute writes to modules, frames, signals...).

    `modules`: names bound to imported modules (e.g. np). Only a hint for the report: scores come
    from the clean check, which does not depend on spotting anything here.
    """
    found = []
    if tree is None:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            base = node.value
            if isinstance(base, ast.Name) and base.id in modules:
                found.append(f"assigns {base.id}.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            if node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in modules:
                found.append(f"{node.func.id}({node.args[0].id}, ...)")
        elif isinstance(node, ast.Name) and node.id in SUSPICIOUS_NAMES:
            found.append(SUSPICIOUS_NAMES[node.id])
        elif isinstance(node, ast.Attribute) and node.attr in SUSPICIOUS_ATTRS:
            found.append(SUSPICIOUS_ATTRS[node.attr])
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            for m in mods:
                if m.split(".")[0] in SUSPICIOUS_NAMES:
                    found.append(SUSPICIOUS_NAMES[m.split(".")[0]])
    return sorted(set(found))


def source_cells(source_nb):
    """The instructor's cells of the source notebook, by grade_id: {gid: ('test'|'setup', source)}."""
    out = {}
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell.cell_type == "code" and gid and not meta.get("solution") and (meta.get("grade") or meta.get("locked")):
            out.setdefault(gid, ("test" if meta.get("grade") else "setup", cell.source))
    return out


def exposed_names(source_nb):
    """Names the student's kernel answers for: {name: [argument positions it may update]}.

    By default every name the source notebook's solution cells bind, minus names the instructor's
    own cells bind; notebook metadata `coursegrade.expose` (a list) replaces that set and
    `coursegrade.mutates` ({name: [positions]}) declares in-place contracts.
    """
    solution, instructor = {}, {}
    for cell in source_nb.cells:
        kind = cell_kind(cell)
        if kind == "student" and cell.metadata.get("nbgrader", {}).get("solution"):
            solution.update(bindings(parse(cell.source)))
        elif kind in ("test", "instructor"):
            instructor.update(bindings(parse(cell.source)))
    meta = source_nb.metadata.get("coursegrade", {})
    names = meta.get("expose") or sorted(set(solution) - set(instructor))
    mutates = meta.get("mutates", {})
    return {name: [int(i) for i in mutates.get(name, [])] for name in names}


@dataclass
class Plan:
    """Per code cell of the graded notebook: whose it is, and what runs for instructor cells.

    Cell kinds come from the SOURCE notebook, not from the submitted metadata: a cell is the
    instructor's only if its grade_id is one of the source's locked cells (first occurrence), and
    then the source's text runs. Everything else is the student's.
    """
    kinds: dict = field(default_factory=dict)          # index -> 'test' | 'setup' | 'student'
    grade_ids: dict = field(default_factory=dict)      # index -> grade_id (instructor cells)
    sources: dict = field(default_factory=dict)        # index -> instructor source to run
    exposed: dict = field(default_factory=dict)        # name -> in-place argument positions
    student_imports: dict = field(default_factory=dict)  # name -> (module, is_module)
    student_sources: list = field(default_factory=list)
    suspicious: dict = field(default_factory=dict)     # student index -> reasons


def plan(nb, source_nb):
    p = Plan(exposed=exposed_names(source_nb))
    instructor, seen, student_names, trees = source_cells(source_nb), set(), {}, {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in instructor and gid not in seen:
            seen.add(gid)
            p.kinds[i], p.sources[i] = instructor[gid]
            p.grade_ids[i] = gid
            continue
        if not cell.source.strip():
            continue
        p.kinds[i] = "student"
        trees[i] = parse(cell.source)
        student_names.update(bindings(trees[i]))
        p.student_sources.append(python_source(cell.source))
    setup_names = {}
    for kind, src in instructor.values():
        setup_names.update(bindings(parse(src)))
    modules = {n for n, v in {**setup_names, **student_names}.items() if v and v[1]}
    for i, tree in trees.items():
        reasons = suspicious(tree, modules)
        if reasons:
            p.suspicious[i] = reasons
    p.student_imports = {n: v for n, v in student_names.items() if v}
    return p
