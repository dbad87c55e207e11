"""The clean check: re-run a notebook's instructor cells where no student code has ever run.

    python -P -m coursegrade.replay JOB.json RESULT.json

JOB (written by coursegrade.execute) lists the notebook's instructor and test cells and the folder
of recordings the kernel-side probe wrote (coursegrade/probe.py). This process executes every
instructor cell, in order, in a fresh IPython shell. Student functions are stand-ins (`Replayed`)
that return the results recorded in the kernel, after checking the test passes the same arguments
it passed there; student variables are the recorded values. So every assert, np.allclose, builtin
and helper runs here, unpatched: a test passes only if the student's recorded results pass it.

The recordings are untrusted input: they are decoded from JSON into plain numbers, strings,
containers and numpy arrays/torch tensors of plain dtypes only (`decode`); nothing is unpickled
or executed. RESULT gets, per test cell, whether it passed and the error (type and message only).
"""
import base64
import builtins
import collections
import contextlib
import io
import json
import sys
import types
from pathlib import Path

import numpy as np

from coursegrade.probe import PLAIN_KINDS, digest, encode, seed_all


class ReplayError(Exception):
    """The test asked the student's code for something the kernel run did not record."""


class Unavailable:
    """A student value that is not plain data (an object, a class...): usable only by name."""

    def __init__(self, what):
        self.what = what

    def __getattr__(self, attr):
        raise ReplayError(f"{self.what} is not plain data and cannot be checked outside the kernel")

    def __call__(self, *args, **kwargs):
        self.__getattr__("__call__")

    def __repr__(self):
        return f"<{self.what}>"


def _array(spec):
    dtype, shape, data = spec
    dtype = np.dtype(dtype)
    if dtype.kind not in PLAIN_KINDS:
        raise ValueError(f"dtype {dtype} not allowed")
    raw = base64.b64decode(data)
    if len(raw) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise ValueError("array size does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def decode(e, args=None):
    """Inverse of probe.encode, accepting plain data only. args: the call's {position: argument}."""
    if e is None or type(e) in (bool, int, str):
        return e
    if type(e) is not dict or len(e) != 1:
        raise ValueError("malformed recording")
    (tag, v), = e.items()
    if tag == "$float":
        return float.fromhex(v)
    if tag == "$arg" and args is not None and v in args:
        return args[v]
    if tag == "$list":
        return [decode(x, args) for x in v]
    if tag == "$tuple":
        return tuple(decode(x, args) for x in v)
    if tag == "$dict":
        return {decode(k): decode(x, args) for k, x in v}
    if tag == "$set":
        return {decode(x) for x in v}
    if tag == "$complex":
        return complex(float.fromhex(v[0]), float.fromhex(v[1]))
    if tag == "$bytes":
        return base64.b64decode(v)
    if tag == "$nd":
        return _array(v)
    if tag == "$np" and np.dtype(v[0]).kind in PLAIN_KINDS:
        return np.frombuffer(base64.b64decode(v[1]), dtype=np.dtype(v[0]))[0]
    if tag == "$torch":
        import torch
        t = torch.from_numpy(decode(v[0]))
        return t.requires_grad_(bool(v[1])) if t.is_floating_point() else t
    if tag == "$module" and isinstance(v, str) and v in sys.modules:
        return sys.modules[v]          # only modules the instructor's own cells already imported
    return Unavailable(f"{tag[1:]} {v}")


def update_in_place(old, new):
    """Apply a change the student's function made to an argument (arrays, lists, dicts)."""
    if isinstance(old, np.ndarray) and isinstance(new, np.ndarray) and old.shape == new.shape:
        old[...] = new
    elif "torch" in sys.modules and isinstance(old, sys.modules["torch"].Tensor):
        with sys.modules["torch"].no_grad():
            old.copy_(new)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            old[:] = new
        for i, (o, n) in enumerate(zip(old, new)):
            if encode(o) != encode(n) and not update_in_place(o, n):
                old[i] = n
    elif isinstance(old, dict) and isinstance(new, dict):
        for k in [k for k in old if k not in new]:
            del old[k]
        for k, n in new.items():
            if k not in old or (encode(old[k]) != encode(n) and not update_in_place(old[k], n)):
                old[k] = n
    elif isinstance(old, tuple) and isinstance(new, tuple) and len(old) == len(new):
        return all(encode(o) == encode(n) or update_in_place(o, n) for o, n in zip(old, new))
    else:
        return False
    return True


def with_gradients(result, jacobians, args):
    """Give recorded torch results their recorded gradients with respect to the test's tensors.

    out = value + J @ (x - x.detach()): the same value, and out.backward() puts J^T g into x.grad.
    """
    if not jacobians:
        return result
    import torch
    outs = [result] if type(result) not in (tuple, list) else list(result)
    for k, entries in jacobians.items():
        out = outs[int(k)].detach()
        for pos, enc in entries:
            x = args[pos]
            J = torch.from_numpy(decode(enc)).to(x.dtype)
            out = out + (J @ (x - x.detach()).reshape(-1)).reshape(out.shape)
        outs[int(k)] = out
    return outs[0] if type(result) not in (tuple, list) else type(result)(outs)


class Tape:
    """The calls recorded for the instructor cell being replayed, in order."""
    calls = collections.deque()


class Replayed:
    """A student function, as seen from the clean process: answers from the tape.

    `__code__` is the student's function compiled (never run) from its source and `__globals__`
    shows what its names refer to, so introspecting tests (e.g. `_own_work`) still see the code.
    """

    def __init__(self, name, code, globals_):
        self.__name__ = self.__qualname__ = name
        self.__module__ = "__main__"
        self.__code__, self.__globals__ = code, globals_

    def __call__(self, *args, **kwargs):
        name = self.__name__
        if not Tape.calls or Tape.calls[0]["name"] != name:
            raise ReplayError(f"{name}() was called here but not at this point in your kernel")
        call = Tape.calls.popleft()
        if call["args"] != digest(args, kwargs):
            raise ReplayError(f"{name}() got different arguments than in your kernel")
        for i, enc in call.get("mutated", {}).items():
            if not update_in_place(args[int(i)], decode(enc)):
                raise ReplayError(f"{name}() replaced argument {i} in a way that cannot be replayed")
        if "raise" in call:
            ename, msg = call["raise"]
            exc = getattr(builtins, ename, None)
            if not (isinstance(exc, type) and issubclass(exc, Exception)):
                exc = RuntimeError
                msg = f"{ename}: {msg}"
            raise exc(msg)
        if "result" not in call:
            raise ReplayError(f"{name}() did not return in your kernel")
        result = decode(call["result"], {**dict(enumerate(args)), **kwargs})
        return with_gradients(result, call.get("jacobians") or {}, args)


class ImportedName:
    """What a student's `from pkg.mod import name` refers to, for introspection only."""

    def __init__(self, path):
        self.__name__ = path
        self.__module__ = path.rpartition(".")[0] or path

    def __call__(self, *args, **kwargs):
        raise ReplayError(f"{self.__name__} was imported by the student's code")


def code_objects(sources):
    """Top-level function code objects of the student cells, compiled but never executed."""
    found = {}
    for src in sources:
        try:
            module = compile(src, "<student cell>", "exec")
        except (SyntaxError, ValueError):
            continue
        for const in module.co_consts:
            if isinstance(const, types.CodeType):
                found[const.co_name] = const
    return found


def run(job):
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance(colors="nocolor", xmode="Minimal")
    ns = shell.user_ns
    codes = code_objects(job["student_sources"])
    static = {}
    for name, (module, is_module) in job["student_imports"].items():
        static[name] = types.ModuleType(module) if is_module else ImportedName(module)
    student_globals = collections.ChainMap(static, ns)
    record_dir = Path(job["record_dir"])
    results = {}
    for cell in job["cells"]:
        rec_path = record_dir / f"cell-{cell['index']}.json"
        rec = None
        try:
            if rec_path.is_file() and not rec_path.is_symlink() and rec_path.stat().st_size <= job["max_record_bytes"]:
                rec = json.loads(rec_path.read_text())
                for name, enc in rec["values"].items():
                    ns[name] = decode(enc)
                for name in rec["functions"]:
                    ns[name] = Replayed(name, codes.get(name), student_globals)
                Tape.calls = collections.deque(rec["calls"])
        except (ValueError, TypeError, KeyError, RecursionError) as e:
            rec = None
            error = f"RecordingError: unreadable recording ({e})"
        else:
            error = None if rec is not None else "RecordingError: this cell left no recording in the kernel"
            if rec is not None and rec.get("truncated"):
                error = "RecordingError: the recording was too large"
        seed_all()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            res = shell.run_cell(cell["source"], store_history=False)
        exc = res.error_before_exec or res.error_in_exec
        if exc is not None:
            error = error or f"{type(exc).__name__}: {exc}"[:2000]
        if cell["kind"] == "test":
            text = None
            if res.result is not None:
                text = shell.display_formatter.format(res.result)[0].get("text/plain")
            results[cell["grade_id"]] = {"ok": error is None, "error": error, "result": text}
    return results


def main(argv=None):
    job_path, out_path = (argv or sys.argv[1:])[:2]
    job = json.loads(Path(job_path).read_text())
    sys.setrecursionlimit(10000)
    Path(out_path).write_text(json.dumps(run(job)))


if __name__ == "__main__":
    main()
