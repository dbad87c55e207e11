"""The recorder that runs INSIDE the student's kernel, and the data codec shared with the clean check.

coursegrade.execute sends this file's source to every kernel. Around each instructor cell (setup,
test) it wraps the student's functions in `Probe`s that write down each call made by instructor
code: a digest of the arguments, the result (or exception) and any argument changed in place.
coursegrade.replay later re-runs the instructor cells in a fresh process where the student's code
never ran, feeding it these recorded results, so every check runs with clean numpy and builtins.

Nothing here has to be trustworthy: a student can alter this recorder, but then all it can do is
hand the clean check other results, which is what writing a different function does anyway. Only
plain data crosses over (`encode`): numbers, strings, containers, numpy arrays and torch tensors
of plain dtypes; anything else becomes an opaque marker that the clean check cannot use.
"""
import base64
import hashlib
import json
import random
import sys
import types

MAX_RECORD_BYTES = 256 * 2**20
PLAIN_KINDS = "biufcUS"      # numpy dtype kinds that travel: bool, ints, floats, complex, strings


def seed_all(seed=0):
    """Seed every generator a test may use (the same way in the kernel and in the clean check)."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _array(a):
    np = sys.modules["numpy"]
    a = np.ndarray.view(a, np.ndarray)          # subclasses travel as plain arrays
    if a.dtype.kind not in PLAIN_KINDS:
        return {"$opaque": f"ndarray[{a.dtype}]"}
    data = np.ascontiguousarray(a).tobytes()
    return {"$nd": [a.dtype.str, list(a.shape), base64.b64encode(data).decode()]}


def encode(x, depth=0, same=None):
    """Plain data -> JSON-able tagged structure (the same value always gives the same encoding).

    same: {id(argument): position} for a call's result, so that returning an argument itself
    (`return X`) is replayed as that very object.
    """
    t = type(x)
    if x is None or t in (bool, int, str):
        return x
    if same and id(x) in same and t is not float:
        return {"$arg": same[id(x)]}
    if t is float:
        return {"$float": x.hex()}       # exact, and NaN/inf safe
    if depth > 40:
        return {"$opaque": "too deep"}
    if t in (list, tuple):
        return {"$" + t.__name__: [encode(v, depth + 1, same) for v in x]}
    if t is dict:
        return {"$dict": [[encode(k, depth + 1), encode(v, depth + 1, same)] for k, v in x.items()]}
    if t in (set, frozenset):
        items = [encode(v, depth + 1) for v in x]
        return {"$set": sorted(items, key=lambda e: json.dumps(e, sort_keys=True))}
    if t is complex:
        return {"$complex": [x.real.hex(), x.imag.hex()]}
    if t is bytes:
        return {"$bytes": base64.b64encode(x).decode()}
    np = sys.modules.get("numpy")
    if np is not None and isinstance(x, np.ndarray):
        return _array(x)
    if np is not None and isinstance(x, np.generic) and x.dtype.kind in PLAIN_KINDS:
        return {"$np": [x.dtype.str, base64.b64encode(x.tobytes()).decode()]}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        try:
            value = x.detach().cpu().numpy()
        except (TypeError, RuntimeError):
            return {"$opaque": f"tensor[{x.dtype}]"}
        return {"$torch": [_array(value), bool(x.requires_grad)]}
    if isinstance(x, types.ModuleType):
        return {"$module": x.__name__}
    if callable(x):
        return {"$fn": getattr(x, "__name__", t.__name__)}
    return {"$opaque": t.__qualname__}


MAX_JACOBIAN = 10**6


def _outputs(result):
    """The result itself, or the items of a tuple/list result: where tensors with a graph may be."""
    return [result] if type(result) not in (tuple, list) else list(result)


def jacobians(result, args):
    """For torch results with an autograd graph: d(result)/d(each tensor argument needing grad).

    {output position: [[argument position, encoded Jacobian (result.numel() x arg.numel())]]},
    so the clean check can rebuild a result whose .backward() reaches the test's tensors.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    inputs, positions = [], []
    for i, a in enumerate(args):
        if isinstance(a, torch.Tensor) and a.requires_grad and not any(a is b for b in inputs):
            inputs.append(a)
            positions.append(i)
    found = {}
    for k, out in enumerate(_outputs(result)):
        if not (inputs and isinstance(out, torch.Tensor) and out.grad_fn is not None):
            continue
        if out.numel() * sum(a.numel() for a in inputs) > MAX_JACOBIAN:
            continue
        flat = out.reshape(-1)
        rows = [torch.autograd.grad(flat[j], inputs, retain_graph=True, allow_unused=True)
                for j in range(flat.numel())]
        found[str(k)] = [[pos, _array(torch.stack([
            (r[n] if r[n] is not None else torch.zeros_like(a)).reshape(-1) for r in rows]).detach().numpy())]
            for n, (pos, a) in enumerate(zip(positions, inputs))]
    return found


def digest(args, kwargs):
    """A short fingerprint of a call's arguments."""
    enc = [encode(a) for a in args], sorted((k, encode(v)) for k, v in kwargs.items())
    return hashlib.sha256(json.dumps(enc, sort_keys=True).encode()).hexdigest()[:32]


class Probe:
    """Stands in for a student function during an instructor cell; records top-level calls.

    Attribute access goes to the real function, so `fn.__code__`, `fn.__globals__` etc. still
    describe the student's code (tests such as `_own_work` inspect them).
    """

    def __init__(self, recorder, name, fn):
        object.__setattr__(self, "_rec", recorder)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_fn", fn)

    def __getattr__(self, attr):
        return getattr(self._fn, attr)

    def __call__(self, *args, **kwargs):
        rec = self._rec
        if rec.depth:                      # called by student code: not part of the test's view
            return self._fn(*args, **kwargs)
        call = {"name": self._name, "args": digest(args, kwargs)}
        before = [encode(a) for a in args]
        rec.depth += 1
        try:
            result = self._fn(*args, **kwargs)
            same = {id(a): i for i, a in enumerate(args)} | {id(v): k for k, v in kwargs.items()}
            call["result"] = encode(result, same=same)
            call["jacobians"] = jacobians(result, args)
        except Exception as e:
            call["raise"] = [type(e).__name__, str(e)[:2000]]
            raise
        finally:
            rec.depth -= 1
            call["mutated"] = {str(i): enc for i, (a, old) in enumerate(zip(args, before))
                               for enc in [encode(a)] if enc != old}
            rec.add(call)
        return result


class Recorder:
    """Arms one instructor cell: wraps the student's functions among `names`, snapshots the other
    values among them, and writes everything to `path` when disarmed."""

    def __init__(self, ns, names, path):
        self.ns, self.path, self.depth, self.size = ns, path, 0, 0
        self.calls, self.saved, self.values, self.truncated = [], {}, {}, False
        for name in names:
            obj = ns.get(name)
            if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
                self.saved[name] = obj
                ns[name] = Probe(self, name, obj)
            elif name in ns:
                self.values[name] = encode(obj)
                self.size += len(json.dumps(self.values[name]))
        self.truncated = self.size > MAX_RECORD_BYTES

    def add(self, call):
        self.size += len(json.dumps(call))
        if self.size > MAX_RECORD_BYTES:
            self.truncated = True
        else:
            self.calls.append(call)

    def disarm(self):
        for name, fn in self.saved.items():
            if isinstance(self.ns.get(name), Probe):
                self.ns[name] = fn
        with open(self.path, "w") as f:
            json.dump({"values": self.values, "functions": sorted(self.saved), "calls": self.calls,
                       "truncated": self.truncated}, f)


_armed = None


def before_cell(ns, names=None, path=None):
    """Called by the grader before each instructor cell: seed, and record if `path` is given."""
    global _armed
    seed_all()
    if path is not None:
        _armed = Recorder(ns, names, path)


def after_cell():
    global _armed
    if _armed is not None:
        rec, _armed = _armed, None
        rec.disarm()
