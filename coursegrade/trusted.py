"""The trusted side of grading: instructor cells run here, in the grader, never in the kernel.

The sandboxed kernel runs only the student's cells (and the release's public setup cells). Every
instructor cell (setup and tests, hidden parts included) runs in `TrustedRunner`, a namespace of
the grading process in which no student code ever executes. Names in a test resolve here
(builtins, numpy, the test's own helpers); only the names the assignment's solution cells define
cross to the student: they are bound to `RemoteFunction`s (or to copies of plain values) that
forward each call to the kernel through a `Bridge` (coursegrade/kernelside.py is the other end).

What crosses, and which way:
* to the kernel: the name of an exposed student function and pickled *copies* of its arguments;
  functions of the test's own (a lambda passed to `numerical_jacobian`) become callbacks, which
  the kernel can call but not read;
* back: plain data only (`decode`: numbers, strings, containers, numpy arrays and torch tensors
  of plain dtypes), never unpickled or executed. Objects that are not plain data stay in the
  kernel and come back as `RemoteHandle`s whose attribute reads and calls are forwarded.

Arguments are copies, so a student function cannot change the test's inputs. Functions whose
contract is to update arguments in place (an optimiser step, `sgns_update`) are declared by the
assignment (notebook metadata `coursegrade.mutates`: {name: [argument positions]}); for those the
new state (arrays; `state_dict` of torch modules and optimisers) is applied to the test's objects.
An undeclared argument changed in place is reported to the test as `ArgumentModified`.
"""
import ast
import base64
import builtins
import collections
import contextlib
import functools
import io
import json
import os
import pickle
import random
import signal
import sys
import threading
import types
from queue import Empty
from time import monotonic

import numpy as np

from coursegrade.kernelside import PLAIN_KINDS

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


class KernelTimeout(BaseException):
    """Student code did not answer in time (a BaseException: a test's `except Exception` cannot
    swallow it). The kernel is then replaced."""


class KernelGone(BaseException):
    """The kernel died while the test waited for it."""


class BridgeError(Exception):
    """The kernel answered something that is not an answer (it does not serve the grader)."""


class ArgumentModified(Exception):
    """A student function changed an argument it was not allowed to change."""


class Unavailable:
    """A student value the test cannot use (malformed data)."""

    def __init__(self, what):
        self.what = what

    def __getattr__(self, attr):
        raise BridgeError(f"{self.what} is not plain data")

    def __repr__(self):
        return f"<{self.what}>"


def seed_all(seed=0):
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


# ---- plain data from the kernel ---------------------------------------------------------------

def _array(spec):
    dtype, shape, data = spec
    dtype = np.dtype(dtype)
    if dtype.kind not in PLAIN_KINDS:
        raise ValueError(f"dtype {dtype} not allowed")
    raw = base64.b64decode(data)
    if len(raw) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise ValueError("array size does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


class State(dict):
    """The state_dict of a torch module or optimiser, as the student's code left it."""


def decode(e, bridge=None):
    """JSON from the kernel -> plain values (handles -> RemoteHandle). Nothing is executed."""
    if e is None or type(e) in (bool, int, str):
        return e
    if type(e) is not dict or len(e) != 1:
        raise ValueError("malformed value from the kernel")
    (tag, v), = e.items()
    if tag == "$float":
        return float.fromhex(v)
    if tag == "$list":
        return [decode(x, bridge) for x in v]
    if tag == "$tuple":
        return tuple(decode(x, bridge) for x in v)
    if tag == "$dict":
        return {decode(k, bridge): decode(x, bridge) for k, x in v}
    if tag == "$set":
        return {decode(x, bridge) for x in v}
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
        t = torch.from_numpy(_array(v[0]["$nd"]))
        return t.requires_grad_(bool(v[1])) if t.is_floating_point() else t
    if tag == "$state":
        return State(decode(v, bridge))
    if tag == "$handle" and bridge is not None:
        ident, kind, is_callable = v
        return RemoteHandle(bridge, int(ident), str(kind)[:100], bool(is_callable))
    return Unavailable(f"{tag[1:]} value")


def update_in_place(old, new):
    """Apply a declared in-place change to the test's object. False if it cannot be applied."""
    if isinstance(new, State):
        if "state_dict" in new and hasattr(old, "parameters"):          # a torch module
            old.load_state_dict(new["state_dict"])
            for p, g in zip(old.parameters(), new["grads"]):
                p.grad = None if g is None else g.detach().to(p.dtype)
        elif hasattr(old, "load_state_dict"):                          # an optimiser
            old.load_state_dict(new)
        elif isinstance(old, np.random.Generator):
            old.bit_generator.state = dict(new)
        elif "torch_rng" in new and hasattr(old, "set_state"):
            old.set_state(new["torch_rng"])
        else:
            return False
        return True
    if isinstance(old, np.ndarray) and isinstance(new, np.ndarray) and old.shape == new.shape:
        old[...] = new
    elif "torch" in sys.modules and isinstance(old, sys.modules["torch"].Tensor):
        with sys.modules["torch"].no_grad():
            old.copy_(new)
    elif isinstance(old, list) and isinstance(new, list):
        old[:] = new
    elif isinstance(old, dict) and isinstance(new, dict):
        old.clear()
        old.update(new)
    else:
        return False
    return True


def with_gradients(result, jacobians, args):
    """Give torch results their recorded gradients with respect to the test's tensors:
    out = value + J (x - x.detach()), the same value, and out.backward() puts J^T g into x.grad."""
    if not jacobians:
        return result
    import torch
    outs = [result] if type(result) not in (tuple, list) else list(result)
    for k, entries in jacobians.items():
        out = outs[int(k)].detach()
        for pos, enc in entries:
            x = args[pos]
            J = torch.from_numpy(_array(enc["$nd"])).to(x.dtype)
            out = out + (J @ (x - x.detach()).reshape(-1)).reshape(out.shape)
        outs[int(k)] = out
    return outs[0] if type(result) not in (tuple, list) else type(result)(outs)


def _exception(ename, message):
    """An exception raised by student code, rebuilt here from its type name (builtins only)."""
    exc = getattr(builtins, str(ename), None)
    if isinstance(exc, type) and issubclass(exc, Exception):
        return exc(str(message))
    return RuntimeError(f"{ename}: {message}")


# ---- the channel to the kernel ----------------------------------------------------------------

def _is_test_function(obj):
    """A function of the test's own (defined in an instructor cell): sent as a callback."""
    if isinstance(obj, functools.partial):
        return True
    if isinstance(obj, (types.FunctionType, types.MethodType)):
        fn = getattr(obj, "__func__", obj)
        return fn.__module__ in ("__main__", None) or "<" in fn.__qualname__
    return False


class Bridge:
    """Calls into the kernel over Jupyter's stdin channel (public protocol, one round trip each).

    A client of its own, connected to the sandboxed kernel, sends `kernelside.serve(...)`; while
    that runs, every input_request carries the kernel's answer and every input_reply the next
    request. Messages larger than `max_bytes` are dropped by ZeroMQ before they reach memory.
    """

    def __init__(self, max_bytes=64 * 2**20):
        self.max_bytes, self.kc, self.context = max_bytes, None, None
        self.alive, self.msg_id, self.deadline, self.callbacks = (lambda: False), None, monotonic(), {}
        self.active = []          # (args, declared positions) of the calls in progress

    def connect(self, connection_info, alive):
        """(Re)connect to a kernel: a fresh one after every restart."""
        import zmq
        from jupyter_client.blocking import BlockingKernelClient
        self.close()
        self.context = zmq.Context()
        self.context.setsockopt(zmq.MAXMSGSIZE, self.max_bytes)
        self.kc = BlockingKernelClient(context=self.context)
        self.kc.load_connection_info(connection_info)
        self.kc.start_channels(shell=True, iopub=False, stdin=True, hb=False, control=False)
        self.alive, self.msg_id = alive, None

    def close(self):
        if self.kc is not None:
            with contextlib.suppress(Exception):
                self.kc.stop_channels()
            self.context.destroy(linger=0)
        self.kc = self.context = None
        self.msg_id = None

    # protocol
    def _prompt(self):
        """The next message the kernel sends (JSON in an input_request's prompt)."""
        while True:
            left = self.deadline - monotonic()
            if left <= 0:
                raise KernelTimeout()
            try:
                msg = self.kc.stdin_channel.get_msg(timeout=min(left, 0.25))
            except Empty:
                if self._serving_ended():
                    self.msg_id = None
                    raise BridgeError("the kernel stopped answering the grader")
                if not self.alive():
                    raise KernelGone()
                continue
            if msg["parent_header"].get("msg_id") == self.msg_id and msg["msg_type"] == "input_request":
                try:
                    return json.loads(msg["content"]["prompt"])
                except ValueError:
                    raise BridgeError("the kernel sent something that is not an answer") from None

    def _serving_ended(self):
        try:
            reply = self.kc.shell_channel.get_msg(timeout=0)
        except Empty:
            return False
        return reply["parent_header"].get("msg_id") == self.msg_id

    def _send(self, obj):
        self.kc.input(json.dumps(obj))

    def start(self, names):
        """Ask the kernel to serve this instructor cell; returns what the exposed names are."""
        code = ("__import__('sys').modules['_coursegrade_kernel'].serve(" + repr(sorted(names)) + ")")
        self.msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=True)
        ready = self._prompt()
        if not isinstance(ready, dict) or not isinstance(ready.get("ready"), dict):
            raise BridgeError("the kernel did not start serving")
        return ready["ready"]

    def finish(self):
        """End this cell's serving and wait until the kernel is idle again."""
        if self.msg_id is None:
            return
        msg_id, self.msg_id, self.callbacks = self.msg_id, None, {}
        self._send({"op": "done"})
        while monotonic() < self.deadline:
            try:
                reply = self.kc.shell_channel.get_msg(timeout=min(0.25, max(0.01, self.deadline - monotonic())))
            except Empty:
                if not self.alive():
                    raise KernelGone()
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                return
        raise KernelTimeout()

    def _pickle(self, obj):
        bridge = self

        class Pickler(pickle.Pickler):
            def persistent_id(self, x):
                if isinstance(x, RemoteHandle):
                    return ("handle", x._ident)
                if isinstance(x, RemoteFunction):
                    return ("name", x.__name__)
                if _is_test_function(x):
                    bridge.callbacks[len(bridge.callbacks)] = x
                    return ("callback", len(bridge.callbacks) - 1)
                return None

        buf = io.BytesIO()
        try:
            Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
        except (pickle.PicklingError, TypeError, AttributeError, RuntimeError) as e:
            raise TypeError(f"an argument cannot be sent to the student's code ({e})") from None
        return base64.b64encode(buf.getvalue()).decode()

    def request(self, msg):
        if self.kc is None:
            raise BridgeError("there is no kernel to ask")
        if self.msg_id is None:             # e.g. a helper of an earlier cell calls student code
            self.start([])
        self._send(msg)
        while True:
            reply = self._prompt()
            if isinstance(reply, dict) and "callback" in reply:
                self._send(self._callback(reply))
                continue
            if not isinstance(reply, dict):
                raise BridgeError("malformed answer from the kernel")
            return reply

    def _callback(self, req):
        fn = self.callbacks.get(req.get("callback"))
        try:
            if self.active:
                self._apply(self.active[-1], req.get("sync") or {})
            if fn is None:
                raise LookupError("no such function")
            value = fn(*decode(req.get("args"), self), **decode(req.get("kwargs"), self))
            return {"op": "return", "payload": self._pickle(value)}
        except Exception as e:      # the message could quote the test's data: send the type only
            name = type(e).__name__ if getattr(builtins, type(e).__name__, None) is type(e) else "Exception"
            return {"op": "raise", "ename": name, "message": "the test's function raised an error"}

    def answer(self, reply, args=()):
        if "raise" in reply:
            ename, message = (list(reply["raise"]) + ["", ""])[:2]
            raise _exception(ename, message)
        if "result" not in reply:
            raise BridgeError("malformed answer from the kernel")
        return decode(reply["result"], self)

    def _apply(self, call, states):
        """Apply the kernel's view of declared in-place arguments to the test's objects."""
        args, mutable = call
        for i, enc in states.items():
            i = int(i)
            if i in mutable and i < len(args) and not update_in_place(args[i], decode(enc, self)):
                raise ArgumentModified(f"argument {i} was replaced in a way that cannot be applied")

    def call(self, target, args, kwargs, mutable=(), method=None):
        args = list(args)
        grads = {i: [p.grad for p in args[i].parameters()] for i in mutable
                 if i < len(args) and _is_module(args[i])}
        payload = self._pickle((args, kwargs, grads))
        self.active.append((args, tuple(mutable)))
        try:
            reply = self.request({"op": "call", "target": target, "method": method, "mutable": list(mutable),
                                  "payload": payload})
        finally:
            self.active.pop()
        result = self.answer(reply)
        self._apply((args, tuple(mutable)), reply.get("mutated") or {})
        changed = [i for i in reply.get("changed") or [] if isinstance(i, int)]
        if changed:
            raise ArgumentModified(f"{target[1] if target[0] == 'name' else 'the function'}() changed "
                                   f"argument {changed[0]} in place; it must not modify its inputs")
        return with_gradients(result, reply.get("jacobians") or {}, args)


def _is_module(x):
    return "torch" in sys.modules and isinstance(x, sys.modules["torch"].nn.Module)


class RemoteHandle:
    """An object that lives in the kernel (not plain data): attribute reads and calls forward."""

    def __init__(self, bridge, ident, kind, is_callable):
        object.__setattr__(self, "_bridge", bridge)
        object.__setattr__(self, "_ident", ident)
        object.__setattr__(self, "_kind", kind)

    def __getattr__(self, attr):
        return self._bridge.answer(self._bridge.request({"op": "getattr", "handle": self._ident, "attr": attr}))

    def __setattr__(self, attr, value):
        self._bridge.answer(self._bridge.request({"op": "setattr", "handle": self._ident, "attr": attr,
                                                  "payload": self._bridge._pickle(value)}))

    def __call__(self, *args, **kwargs):
        return self._bridge.call(("handle", self._ident), args, kwargs)

    def _method(self, name, *args):
        return self._bridge.call(("handle", self._ident), args, {}, method=name)

    def __getitem__(self, key):
        return self._method("__getitem__", key)

    def __len__(self):
        return self._method("__len__")

    def __iter__(self):
        it = self._method("__iter__")
        while True:
            try:
                yield it._method("__next__") if isinstance(it, RemoteHandle) else next(it)
            except StopIteration:
                return

    def __repr__(self):
        return f"<{self._kind} object in the student's kernel>"


class RemoteFunction:
    """A student function as the test sees it: calls go to the kernel.

    `__code__` is the student's definition compiled (never run) from the submitted source, and
    `__globals__` shows what the names it uses were imported as, for tests that inspect code.
    """

    def __init__(self, name, bridge, code, globals_, mutable=()):
        self.__name__ = self.__qualname__ = name
        self.__module__ = "__main__"
        self.__code__, self.__globals__ = code, globals_
        self._bridge, self._mutable = bridge, tuple(mutable)

    def __call__(self, *args, **kwargs):
        return self._bridge.call(("name", self.__name__), args, kwargs, self._mutable)

    def __repr__(self):
        return f"<student function {self.__name__}>"


class ImportedName:
    """What a student's `from pkg.mod import name` refers to, for introspection only."""

    def __init__(self, path):
        self.__name__ = path
        self.__module__ = path.rpartition(".")[0] or path


_EMPTY_CODE = compile("None", "<student code>", "eval")


def code_objects(sources):
    """Code of the student's top-level functions (`def f` and `f = lambda`), compiled, never run."""
    found = {}
    for src in sources:
        try:
            tree = ast.parse(src)
            module = compile(tree, "<student cell>", "exec")
        except (SyntaxError, ValueError):
            continue
        for const in module.co_consts:
            if isinstance(const, types.CodeType) and const.co_name != "<lambda>":
                found[const.co_name] = const
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                code = compile(ast.Expression(node.value), "<student cell>", "eval")
                lam = next((c for c in code.co_consts if isinstance(c, types.CodeType)), None)
                for target in node.targets:
                    if isinstance(target, ast.Name) and lam is not None:
                        found.setdefault(target.id, lam)
    return found


# ---- running instructor cells -----------------------------------------------------------------

def split_hidden(source):
    """[(code, hidden?)] in order: the visible part(s) and the hidden part(s) of a test cell."""
    parts, lines, hidden = [], [], False
    for line in source.splitlines():
        mark = line.strip()
        if mark in (HIDDEN_BEGIN, HIDDEN_END):
            parts.append(("\n".join(lines), hidden))
            lines, hidden = [], mark == HIDDEN_BEGIN
            continue
        lines.append(line)
    parts.append(("\n".join(lines), hidden))
    return [(code, h) for code, h in parts if code.strip()]


class CappedText(io.StringIO):
    """stdout of instructor code, kept up to `limit` characters."""

    def __init__(self, limit):
        super().__init__()
        self.limit, self.dropped = limit, 0

    def write(self, s):
        room = self.limit - self.tell()
        if room < len(s):
            self.dropped += len(s) - max(room, 0)
            s = s[:max(room, 0)]
        return super().write(s)


class _Alarm:
    """Interrupt trusted code that overruns its time (main thread only; calls have deadlines)."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.active = threading.current_thread() is threading.main_thread() and seconds > 0

    def _fire(self, *_):
        raise KernelTimeout()

    def __enter__(self):
        if self.active:
            self.old = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)


class TrustedRunner:
    """The instructor's namespace for one notebook, and how its cells run against a kernel.

    exposed: {name: [argument positions the function may update in place]} for every name the
    assignment's solution cells define; student_sources/imports: for `RemoteFunction.__code__`.
    """

    def __init__(self, folder, exposed, student_sources=(), student_imports=None, output_limit=2**20):
        self.folder, self.exposed = folder, dict(exposed)
        self.ns = {"__name__": "__main__", "__builtins__": builtins}
        self.codes = code_objects(student_sources)
        static = {}
        for name, (module, is_module) in (student_imports or {}).items():
            static[name] = types.ModuleType(module) if is_module else ImportedName(module)
        self.student_globals = collections.ChainMap(static, {})
        self.output_limit = output_limit

    def _bind(self, bridge, names):
        values = bridge.start(names)
        for name in names:
            self.ns.pop(name, None)
            value = values.get(name, KeyError) if isinstance(values, dict) else KeyError
            if value is KeyError:
                continue
            if isinstance(value, dict) and "$callable" in value:
                self.ns[name] = RemoteFunction(name, bridge, self.codes.get(name, _EMPTY_CODE),
                                               self.student_globals, self.exposed.get(name) or ())
            else:
                try:
                    self.ns[name] = decode(value, bridge)
                except (ValueError, TypeError, KeyError):
                    self.ns[name] = Unavailable(f"{name}")

    def _exec(self, code, last_value):
        """Run code in the namespace; return the last expression's value if asked."""
        tree = ast.parse(code)
        tail = None
        if last_value and tree.body and isinstance(tree.body[-1], ast.Expr):
            tail = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<instructor cell>", "exec"), self.ns)
        if tail is not None:
            return eval(compile(tail, "<instructor cell>", "eval"), self.ns)
        return None

    def run(self, source, bridge, deadline):
        """Run one instructor cell. Returns a dict: parts run, the failing part (or None), the
        error (type, message), stdout per part, and the last expression's value."""
        from coursegrade.cells import loads, parse, python_source
        source = python_source(source)
        names = sorted(loads(parse(source)) & set(self.exposed))
        outcome = {"failed": None, "error": None, "stdout": [], "result": None, "hidden_ran": False}
        bridge.deadline = deadline
        cwd = os.getcwd()
        try:
            os.chdir(self.folder)
            seed_all()
            with _Alarm(deadline - monotonic()):
                if names:
                    self._bind(bridge, names)
                parts = split_hidden(source)
                for n, (code, hidden) in enumerate(parts):
                    outcome["hidden_ran"] |= hidden
                    out = CappedText(self.output_limit)
                    try:
                        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                            value = self._exec(code, last_value=n == len(parts) - 1)
                    except Exception as e:
                        outcome["failed"] = "hidden" if hidden else "visible"
                        outcome["error"] = (type(e).__name__, str(e)[:500])
                        outcome["stdout"].append((out.getvalue(), hidden))
                        break
                    outcome["stdout"].append((out.getvalue(), hidden))
                    if value is not None:
                        outcome["result"] = repr(value)[:200]
                bridge.finish()
        finally:
            os.chdir(cwd)
        return outcome
