"""nbgrader's Execute step, split in two: student cells in a sandboxed kernel, tests in the grader.

`SandboxedExecute` replaces `nbgrader.preprocessors.Execute` in `Autograde.autograde_preprocessors`
(coursegrade.worker sets this up and refuses to grade if any other execution step is configured).
For each code cell, in notebook order:

* a **student** cell (solution cells, cells the student added) runs in the sandboxed kernel
  (coursegrade.sandbox), with a time limit and outputs capped in bytes;
* a **setup** cell (the release's locked, ungraded code: imports, helpers) runs in the kernel, so
  the student's code finds its imports, and in the trusted runner, so the tests do;
* a **test** cell runs only in the trusted runner (coursegrade/trusted.py): its source (hidden
  part included, taken from the assignment's source notebook) never enters the kernel; its calls
  to student functions cross over as plain data.

A cell that times out or kills its kernel gets an error output; the kernel is replaced, the
earlier kernel cells re-run without the culprit, and grading goes on. What a student sees of the
run is safe by construction: once a hidden test has run, nothing the student's code produces
(outputs of later cells, messages of later tests) is kept in the notebook, since it could carry
hidden inputs; a hidden failure says only that a hidden test failed; rich outputs are reduced to
text and images. The full story (errors, timings) goes to the instructor's report (`report_path`).
"""
import copy
import json
import math
import os
import shutil
import subprocess
import threading
from pathlib import Path
from time import monotonic

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Integer, List, Unicode

from coursegrade import cells, compat, kernelside
from coursegrade.sandbox import KERNEL_NAME, Limits, Sandbox, fill_workdir, kill_uid, make_scratch, scratch_usage
from coursegrade.trusted import Bridge, KernelGone, KernelTimeout, TrustedRunner

INSTALL = (
    "def _coursegrade_install(src):\n"
    "    import sys, types\n"
    "    m = types.ModuleType('_coursegrade_kernel')\n"
    "    sys.modules['_coursegrade_kernel'] = m\n"
    "    exec(compile(src, '<coursegrade kernel side>', 'exec'), m.__dict__)\n"
    "    m.install(get_ipython())\n"
    "_coursegrade_install({src!r}); del _coursegrade_install\n")
KERNEL_SIDE = Path(kernelside.__file__).read_text()
KEEP_MIME = ("text/plain", "image/png", "image/jpeg")
WITHHELD = "(output withheld from feedback: this cell ran after hidden tests, so it may show their data)"


def error_output(ename, evalue):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def stream(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def safe_output(out):
    """Student output as feedback may show it: text and images only (no HTML, JS or SVG)."""
    if out.output_type in ("display_data", "execute_result"):
        out.data = {k: v for k, v in out.get("data", {}).items() if k in KEEP_MIME}
        out.metadata = {}
        if not out.data:
            return None
    return out


class SandboxedExecute(Execute):
    notebook_timeout = Integer(600, help="Seconds for the whole notebook (restarts included).").tag(config=True)
    sandbox_mode = Unicode("auto", help="'bwrap', 'rlimit' (limits only) or 'auto'.").tag(config=True)
    memory_limit = Integer(2 * 2**30, help="Bytes of address space per kernel.").tag(config=True)
    process_limit = Integer(128, help="Processes + threads per kernel.").tag(config=True)
    scratch_quota = Integer(256 * 2**20, help="Bytes the kernel may write to disk in all.").tag(config=True)
    output_limit = Integer(2**20, help="Bytes of output kept per cell.").tag(config=True)
    message_limit = Integer(4 * 2**20, help="Largest kernel message read into memory (bytes).").tag(config=True)
    call_limit = Integer(64 * 2**20, help="Largest answer of a call into student code (bytes).").tag(config=True)
    hide = List(Unicode(), help="More folders to hide from kernels.").tag(config=True)
    expose = List(Unicode(), help="More folders to show read-only to kernels.").tag(config=True)
    course_root = Unicode("", help="The course folder (hidden from kernels).").tag(config=True)
    source_dir = Unicode("", help="The assignment's source folder (instructor cells, files for tests).").tag(config=True)
    report_path = Unicode("", help="Where to write the JSON report.").tag(config=True)
    max_restarts = Integer(3, help="Kernel restarts allowed per notebook.").tag(config=True)

    # ---- kernel lifecycle -------------------------------------------------------------------
    def create_kernel_manager(self):
        ksm = KernelSpecManager(kernel_dirs=[self.scratch.kernel_dirs], ensure_native_kernel=False)
        self.km = self.kernel_manager_class(
            kernel_name=KERNEL_NAME, kernel_spec_manager=ksm, transport="ipc", ip=self.scratch.ipc_prefix,
            connection_file=self.scratch.connection_file, config=self.config)
        compat.limit_messages(self.km.context, self.message_limit)
        return self.km

    async def async_start_new_kernel_client(self):
        return await compat.start_kernel_client(self, self.startup_timeout)

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def start_kernel(self):
        self.create_kernel_manager()
        self.start_new_kernel(cwd=self.scratch.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.start_new_kernel_client()
        self.bridge.connect(self.km.get_connection_info(), self.kernel_alive)
        self.bridge.deadline = monotonic() + 30
        if not self.kernel_call(INSTALL.format(src=KERNEL_SIDE)):
            raise RuntimeError("could not install coursegrade's kernel side in a fresh kernel")

    def kernel_alive(self):
        try:
            return bool(run_sync(self.km.is_alive)())
        except Exception:
            return False

    def stop_kernel(self, graceful=False):
        """Stop the kernel, at once: nothing it still holds is needed (a graceful shutdown would
        cost a fifth of a second per submission)."""
        self.bridge.close()
        if self.km is not None:
            compat.cleanup_kernel(self, graceful)
        kill_uid(self.scratch.uid)       # anything the kernel left behind (matters without bwrap)
        self.km = self.kc = None

    def kernel_call(self, code, timeout=20):
        """Run grader code in the kernel, silently (not in its history); True if it ran."""
        kc = self.bridge.kc
        msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = monotonic() + timeout
        while monotonic() < deadline:
            try:
                msg = kc.shell_channel.get_msg(timeout=0.5)
            except Exception:
                if not self.kernel_alive():
                    return False
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]["status"] == "ok"
        return False

    # ---- output limits ----------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        """nbclient's output hook, with a byte budget per cell."""
        content = msg.get("content", {})
        size = len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values()) \
            + len(content.get("evalue", "")) + sum(len(t) for t in content.get("traceback", []))
        used = self.output_bytes.get(cell_index, 0)
        self.output_bytes[cell_index] = used + size
        if used + size > self.output_limit:
            if used <= self.output_limit:
                outs.append(stream(f"\n[output truncated: more than {self.output_limit} bytes]\n", "stderr"))
                self.problem("output", cell_index, f"output over {self.output_limit} bytes was dropped")
            return None
        return super().output(outs, msg, display_id, cell_index)

    # ---- running cells ----------------------------------------------------------------------
    def label(self, index):
        return self.plan.grade_ids.get(index) or f"cell {index + 1}"

    def problem(self, kind, index, detail):
        self.problems.append({"kind": kind, "cell": None if index is None else self.label(index),
                              "detail": detail})

    def run_kernel_cell(self, index, cell, timeout):
        """Execute a student or setup cell in the kernel; None, or why the kernel had to go."""
        self.timeout = max(1, math.ceil(timeout))
        trips = self.watchdog.trips
        if self.plan.kinds[index] == "setup":
            cell.source = self.plan.sources[index]
        try:
            self.execute_cell(cell, index, store_history=True)
        except CellTimeoutError:
            cell.outputs.append(error_output("CellTimeoutError", f"the cell ran longer than {self.timeout} s and was stopped"))
            return f"timed out after {self.timeout} s"
        except DeadKernelError:
            cell.outputs.append(error_output("KernelDied", "the kernel died while running this cell (memory or process limit, or the code killed it)"))
            return "the kernel died" + self.watchdog.reason(trips)
        if self.watchdog.trips > trips:
            cell.outputs.append(error_output("KernelDied", "the kernel wrote more to disk than allowed"))
            return "the kernel died" + self.watchdog.reason(trips)
        return None

    def run_trusted(self, index, deadline):
        """Run an instructor cell in the trusted runner; for tests, set the cell's outputs."""
        kind, gid, cell = self.plan.kinds[index], self.plan.grade_ids[index], self.nb.cells[index]
        try:
            outcome = self.runner.run(self.plan.sources[index], self.bridge, deadline)
        except (KernelTimeout, KernelGone) as e:     # the kernel must go: what the student sees
            timeout = isinstance(e, KernelTimeout)
            self.hidden_ran |= "BEGIN HIDDEN TESTS" in self.plan.sources[index]
            if kind == "test":
                cell.outputs = [error_output("CellTimeoutError", "a call into your code took too long and was stopped")
                                if timeout else
                                error_output("KernelDied", "the kernel died while this test called your code")]
                self.tests[gid] = {"passed": False, "part": None, "error": "timed out" if timeout else "kernel died"}
            return "timed out" if timeout else "the kernel died"
        hidden_before, self.hidden_ran = self.hidden_ran, self.hidden_ran or outcome["hidden_ran"]
        error = outcome["error"]
        if kind == "setup":
            if error:
                self.problem("grader", index, f"the setup cell failed in the grader: {error[0]}: {error[1]}")
            return None
        self.tests[gid] = {"passed": error is None, "part": outcome["failed"],
                           "error": f"{error[0]}: {error[1]}" if error else None}
        outs = []
        if not hidden_before:        # nothing student code returned so far can hold hidden data
            outs += [stream(text) for text, hidden in outcome["stdout"] if text and not hidden]
        if error and outcome["failed"] == "hidden":
            outs.append(error_output("HiddenTestFailed", "a hidden test failed"))
        elif error and hidden_before:
            outs.append(error_output("TestFailed", "a visible test failed: run this cell in your notebook to see why"))
        elif error:
            outs.append(error_output(*error))
        elif outcome["result"] is not None:           # nbgrader's partial credit
            outs.append(nbformat.v4.new_output("execute_result", data={"text/plain": outcome["result"]},
                                               execution_count=None))
        cell.outputs = outs
        return None

    def rebuild(self, previous, skip, deadline):
        """New kernel with the state of `previous` kernel cells, minus those in `skip`."""
        for _ in range(self.max_restarts):
            self.restarts += 1
            self.stop_kernel()
            fill_workdir(self.scratch.path / "work", self.workdir, self.scratch.uid)
            self.watchdog.resume()
            self.start_kernel()
            for j in previous:
                if j in skip or self.plan.kinds[j] == "test":
                    continue
                if deadline - monotonic() < 1:
                    return False
                failure = self.run_kernel_cell(j, copy.deepcopy(self.nb.cells[j]),
                                               min(self.cell_timeout, deadline - monotonic()))
                if failure:
                    skip.add(j)
                    self.problem("kernel", j, f"re-running it to rebuild the kernel's state: {failure}")
                    break
            else:
                return True
        return False

    def run_notebook(self):
        deadline = monotonic() + self.notebook_timeout
        order = sorted(self.plan.kinds)
        skip = set()
        self.start_kernel()
        for pos, index in enumerate(order):
            cell, kind = self.nb.cells[index], self.plan.kinds[index]
            left = deadline - monotonic()
            if left < 1:
                for j in order[pos:]:
                    self.nb.cells[j].outputs = [error_output(
                        "NotebookTimeout", f"the notebook's {self.notebook_timeout} s limit ran out before this cell")]
                self.problem("timeout", None, f"notebook time limit ({self.notebook_timeout} s) reached at {self.label(index)}")
                return
            cell_deadline = monotonic() + min(self.cell_timeout, left)
            failure = None
            if kind != "test":
                cell.outputs = []
                if self.hidden_ran:
                    self.after_hidden.add(index)
                failure = self.run_kernel_cell(index, cell, cell_deadline - monotonic())
            if kind != "student" and not failure:
                failure = self.run_trusted(index, cell_deadline)
            if failure:
                self.problem("timeout" if "timed out" in failure else "kernel", index, failure)
                skip.add(index)
                if not self.rebuild(order[:pos], skip, deadline):
                    for j in order[pos + 1:]:
                        self.nb.cells[j].outputs = [error_output("KernelDied", "not run: the kernel could not be restarted")]
                    self.problem("kernel", None, "gave up restarting the kernel")
                    return

    def make_safe(self):
        """Outputs of student code as feedback may show them (see the module docstring)."""
        for index, kind in self.plan.kinds.items():
            if kind == "test":
                continue
            cell = self.nb.cells[index]
            if index in self.after_hidden:
                if any(o.output_type != "error" for o in cell.outputs) or any(
                        o.output_type == "error" and o.ename not in ("CellTimeoutError", "KernelDied") for o in cell.outputs):
                    errors = [o for o in cell.outputs if o.output_type == "error"]
                    cell.outputs = [stream(WITHHELD)] + ([error_output("Error", "this cell raised an error")] if errors else [])
                continue
            cell.outputs = [o for o in (safe_output(o) for o in cell.outputs) if o is not None]

    # ---- entry point ------------------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        compat.init_notebook_client(self, nb, km, resources)
        self.interrupt_on_timeout = False          # a stuck cell's kernel is replaced instead
        self.cell_timeout = self.timeout or 60
        name = (resources or {}).get("unique_key") or ""
        source_path = Path(self.source_dir) / f"{name}.ipynb"
        if not source_path.is_file():
            raise RuntimeError(f"no source notebook {source_path}: coursegrade grades from the assignment's source")
        source_nb = nbformat.read(source_path, as_version=4)
        self.plan = cells.plan(nb, source_nb)
        self.problems, self.tests, self.restarts, self.output_bytes = [], {}, 0, {}
        self.hidden_ran, self.after_hidden = False, set()
        self.workdir = (resources or {}).get("metadata", {}).get("path") or os.getcwd()
        packages = list(source_nb.metadata.get("coursegrade", {}).get("packages", []))
        sandbox = Sandbox(mode=self.sandbox_mode, hide=list(self.hide), expose=list(self.expose),
                          packages=packages, limits=Limits(memory=self.memory_limit, nproc=self.process_limit,
                                                           cpu=self.notebook_timeout + 30, disk=self.scratch_quota))
        self.scratch = make_scratch(self.course_root or os.getcwd(), self.workdir, sandbox)
        self.bridge = Bridge(max_bytes=self.call_limit)
        self.watchdog = Watchdog(self.scratch, self.scratch_quota, lambda: compat.kill_kernel(self.km))
        check = self.scratch.path / "check"        # the tests' working folder: the source's files
        shutil.copytree(self.source_dir, check, ignore=shutil.ignore_patterns("*.ipynb", ".*"), dirs_exist_ok=True)
        self.runner = TrustedRunner(str(check), self.plan.exposed, self.plan.student_sources,
                                    self.plan.student_imports, output_limit=self.output_limit)
        try:
            self.watchdog.start()
            self.run_notebook()
        finally:
            self.watchdog.stop()
            self.stop_kernel()
            shutil.rmtree(self.scratch.path, ignore_errors=True)
        if self.watchdog.trips:
            self.problem("quota", None, f"the kernel wrote more than {self.scratch_quota} bytes to disk and was stopped")
        for index, reasons in self.plan.suspicious.items():
            self.problem("suspicious", index, "; ".join(reasons))
        for index in self.plan.kinds:
            for out in self.nb.cells[index].outputs:
                if out.output_type == "error" and out.get("ename") == "MemoryError":
                    self.problem("memory", index, "MemoryError: the memory limit was reached")
        self.make_safe()
        mode = sandbox.resolved_mode()
        if self.scratch.uid is None and os.geteuid() == 0:
            mode += " (kernel as root: Python is in a private folder)"
        report = {"problems": self.problems, "tests": self.tests, "restarts": self.restarts, "sandbox": mode,
                  "executor": type(self).__name__}
        self.resources["coursegrade"] = report
        if self.report_path:
            Path(self.report_path).write_text(json.dumps(report, indent=1))
        return self.nb, self.resources


class Watchdog(threading.Thread):
    """Stops a kernel whose files on the grader's disk outgrow the quota (checked 4 times a
    second); after a trip it waits for `resume` (the kernel's files are then made anew)."""

    def __init__(self, scratch, quota, kill):
        super().__init__(daemon=True)
        self.scratch, self.quota, self.kill, self.trips = scratch, quota, kill, 0
        self.halt, self.armed = threading.Event(), threading.Event()
        self.armed.set()

    def run(self):
        while not self.halt.wait(0.25):
            if self.armed.is_set() and scratch_usage(self.scratch) > self.quota:
                self.armed.clear()
                self.trips += 1
                kill_uid(self.scratch.uid)
                self.kill()

    def resume(self):
        self.armed.set()

    def stop(self):
        self.halt.set()

    def reason(self, trips_before):
        return " (it wrote more to disk than its quota)" if self.trips > trips_before else ""
