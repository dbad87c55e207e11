"""What runs INSIDE the student's kernel: it answers the trusted process's calls into student code.

coursegrade.execute sends this file's source to every sandboxed kernel, which runs only the
student's cells (and the release's public setup cells). Tests never run here: they run in the
grader's trusted process (coursegrade/trusted.py), and when a test calls a student function the
call crosses over Jupyter's stdin channel, one input_request/input_reply round trip per call:

    trusted -> kernel   input_reply   {"op": "call", "target": ..., "payload": pickle of the args}
    kernel  -> trusted  input_request {"result": plain data} | {"raise": [type, message]}
                                      | {"callback": id, "args": ...}   (student calls a test's function)

Arguments arrive as pickled copies (trusted -> untrusted only: the kernel may unpickle what the
grader sends, the grader never unpickles what the kernel sends). Results go back as plain data
(`encode`: numbers, strings, containers, numpy arrays and torch tensors of plain dtypes); any other
object stays here and goes back as a handle, a number the trusted side can use to forward
attribute reads and calls. Nothing here has to be trustworthy: a student who tampers with it can
only hand the tests other plain data, which is what writing a different function does anyway.
"""
import base64
import builtins
import contextlib
import io
import json
import pickle
import random
import sys
import types

PLAIN_KINDS = "biufcUS"      # numpy dtype kinds that travel: bool, ints, floats, complex, strings
MAX_JACOBIAN = 10**6


def seed_all(seed=0):
    """Seed every generator a test may use, before each instructor cell (here and in the grader)."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _array(a):
    np = sys.modules["numpy"]
    a = np.ndarray.view(a, np.ndarray)          # subclasses travel as plain arrays
    if a.dtype.kind not in PLAIN_KINDS:
        return None
    data = np.ascontiguousarray(a).tobytes()
    return {"$nd": [a.dtype.str, list(a.shape), base64.b64encode(data).decode()]}


class Handles:
    """Objects that are not plain data, kept here and named by number on the trusted side."""
    objects = []

    @classmethod
    def add(cls, obj):
        cls.objects.append(obj)
        return {"$handle": [len(cls.objects) - 1, type(obj).__qualname__, callable(obj)]}


def encode(x, depth=0):
    """Plain data -> a JSON-able tagged structure; anything else -> a handle."""
    t = type(x)
    if x is None or t in (bool, int, str):
        return x
    if t is float:
        return {"$float": x.hex()}       # exact, and NaN/inf safe
    if depth > 40:
        return Handles.add(x)
    if t in (list, tuple):
        return {"$" + t.__name__: [encode(v, depth + 1) for v in x]}
    if t is dict:
        return {"$dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in x.items()]}
    if t in (set, frozenset):
        return {"$set": [encode(v, depth + 1) for v in x]}
    if t is complex:
        return {"$complex": [x.real.hex(), x.imag.hex()]}
    if t is bytes:
        return {"$bytes": base64.b64encode(x).decode()}
    np = sys.modules.get("numpy")
    if np is not None and isinstance(x, np.ndarray):
        return _array(x) or Handles.add(x)
    if np is not None and isinstance(x, np.generic) and x.dtype.kind in PLAIN_KINDS:
        return {"$np": [x.dtype.str, base64.b64encode(x.tobytes()).decode()]}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        try:
            value = _array(x.detach().cpu().numpy())
        except (TypeError, RuntimeError):
            value = None
        return {"$torch": [value, bool(x.requires_grad)]} if value else Handles.add(x)
    return Handles.add(x)


def state(x):
    """What a declared in-place argument looks like now (modules, optimisers: their state_dict;
    random generators: their state)."""
    torch = sys.modules.get("torch")
    np = sys.modules.get("numpy")
    if torch is not None and isinstance(x, torch.nn.Module):      # gradients are part of its state
        return {"$state": encode({"state_dict": dict(x.state_dict()), "grads": [p.grad for p in x.parameters()]})}
    if torch is not None and isinstance(x, torch.optim.Optimizer):
        return {"$state": encode(x.state_dict())}
    if np is not None and isinstance(x, np.random.Generator):
        return {"$state": encode(x.bit_generator.state)}
    if torch is not None and isinstance(x, torch.Generator):
        return {"$state": encode({"torch_rng": x.get_state()})}
    return encode(x)


def jacobians(result, args):
    """d(result)/d(each tensor argument that requires grad), so that a test's .backward() reaches
    its own tensors: {output position: [[argument position, Jacobian as (out.numel(), arg.numel())]]}."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    inputs = [(i, a) for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.requires_grad]
    outs = [result] if type(result) not in (tuple, list) else list(result)
    found = {}
    for k, out in enumerate(outs):
        if not (inputs and isinstance(out, torch.Tensor) and out.grad_fn is not None):
            continue
        if out.numel() * sum(a.numel() for _, a in inputs) > MAX_JACOBIAN:
            continue
        flat = out.reshape(-1)
        rows = [torch.autograd.grad(flat[j], [a for _, a in inputs], retain_graph=True, allow_unused=True)
                for j in range(flat.numel())]
        found[str(k)] = [[i, _array(torch.stack([
            (r[n] if r[n] is not None else torch.zeros_like(a)).reshape(-1) for r in rows]).detach().numpy())]
            for n, (i, a) in enumerate(inputs)]
    return found


class Callback:
    """A function of the test's, passed to student code: calling it asks the trusted process."""

    def __init__(self, server, ident):
        self._server, self._ident = server, ident

    def __call__(self, *args, **kwargs):
        return self._server.ask({"callback": self._ident, "args": encode(list(args)),
                                 "kwargs": encode(kwargs), "sync": self._server.sync()})


class _Unpickler(pickle.Unpickler):
    def __init__(self, data, server):
        super().__init__(io.BytesIO(data))
        self.server = server

    def persistent_load(self, pid):
        kind, ident = pid
        if kind == "handle":
            return Handles.objects[ident]
        return Callback(self.server, ident)


def _snapshot(x):
    try:
        return pickle.dumps(x)
    except Exception:
        return None


class Server:
    """One instructor cell's worth of calls; `serve` returns when the trusted side says "done"."""

    def __init__(self, ask_frontend):
        self.ask_frontend = ask_frontend
        self.active = []          # (args, declared positions) of the calls in progress

    def sync(self):
        """The declared in-place arguments of the innermost call, as they are now: the test sees
        them before its callback runs (a closure over x, while numerical_jacobian perturbs x)."""
        if not self.active:
            return {}
        args, declared = self.active[-1]
        return {str(i): state(args[i]) for i in declared if i < len(args)}

    def ask(self, message):
        """Send a message, answer any nested requests, and return what the trusted side sends back."""
        reply = json.loads(self.ask_frontend(json.dumps(message)))
        if reply.get("op") == "return":
            return self.load(reply["payload"])
        if reply.get("op") == "raise":
            exc = getattr(builtins, reply.get("ename", ""), None)
            if not (isinstance(exc, type) and issubclass(exc, Exception)):
                exc = RuntimeError
            raise exc(reply.get("message", "the test's function failed"))
        raise RuntimeError("unexpected message from the grader")

    def load(self, payload):
        return _Unpickler(base64.b64decode(payload), self).load()

    def handle(self, msg, ns):
        op = msg["op"]
        if op == "call":
            kind, name = msg["target"]
            fn = ns[name] if kind == "name" else Handles.objects[name]
            if msg.get("method"):
                fn = getattr(fn, msg["method"])
            args, kwargs, grads = self.load(msg["payload"])
            for i, values in grads.items():      # pickling drops .grad: the test's modules send theirs
                for p, g in zip(args[i].parameters(), values):
                    p.grad = g
            before = [_snapshot(a) for a in args]
            declared = set(msg.get("mutable") or [])
            self.active.append((args, declared))
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    result = fn(*args, **kwargs)
            finally:
                self.active.pop()
            out = {"result": encode(result), "jacobians": jacobians(result, args)}
            out["mutated"] = {str(i): state(a) for i, a in enumerate(args) if i in declared}
            out["changed"] = [i for i, (a, b) in enumerate(zip(args, before))
                              if i not in declared and b is not None and _snapshot(a) != b]
            return out
        if op == "getattr":
            return {"result": encode(getattr(Handles.objects[msg["handle"]], msg["attr"]))}
        if op == "setattr":
            setattr(Handles.objects[msg["handle"]], msg["attr"], self.load(msg["payload"]))
            return {"result": None}
        raise ValueError(f"unknown operation {op!r}")

    def serve(self, ns, names):
        """Answer calls until "done". The first message says what the exposed `names` are."""
        seed_all()
        values = {}
        for name in names:
            if name in ns:
                obj = ns[name]
                values[name] = {"$callable": name} if isinstance(obj, types.FunctionType) or (
                    callable(obj) and not isinstance(obj, type)) else encode(obj)
        message = {"ready": values}
        while True:
            msg = json.loads(self.ask_frontend(json.dumps(message)))
            if msg.get("op") == "done":
                return
            try:
                message = self.handle(msg, ns)
            except Exception as e:
                message = {"raise": [type(e).__name__, str(e)[:2000]]}


def install(shell):
    """Keep the kernel's stdin channel at hand (before any student code can replace `input`)."""
    ask = shell.kernel.raw_input
    module = sys.modules[__name__]
    module.serve = lambda names: Server(ask).serve(shell.user_ns, names)
    seed_all()
