"""nbgrader's Execute step, sandboxed, time-limited, crash-tolerant and checked in a clean process.

`SandboxedExecute` replaces `nbgrader.preprocessors.Execute` in `Autograde.autograde_preprocessors`
(coursegrade.worker sets this up). Compared with the stock step it:

* starts the kernel from a per-submission kernelspec (coursegrade.sandbox), by name;
* limits every cell (`timeout`) and the whole notebook (`notebook_timeout`). A cell that times out
  or kills its kernel (memory, signals, a dead parent...) gets an error output; the kernel is then
  restarted and the earlier cells re-run, without the culprit, so later tasks are still graded;
* wraps each instructor cell (setup, tests) with the probe (coursegrade/probe.py), then re-runs all
  instructor cells in a clean process (coursegrade/replay.py). A test cell that passed in the
  kernel but fails there gets an `IntegrityCheckFailed` error output, so nbgrader scores it zero,
  and is reported as tampering;
* writes what happened (problems, per-test verdicts) to `report_path` as JSON.
"""
import copy
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from queue import Empty
from time import monotonic

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient.client import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, List, Unicode

from coursegrade import cells, probe
from coursegrade.sandbox import KERNEL_NAME, Limits, Sandbox, kernel_env, kill_uid, make_scratch

PROBE_SOURCE = Path(probe.__file__).read_text()
INSTALL_PROBE = (
    "def _coursegrade_install(src):\n"
    "    import sys, types\n"
    "    m = types.ModuleType('_coursegrade_probe')\n"
    "    exec(compile(src, '<coursegrade probe>', 'exec'), m.__dict__)\n"
    "    sys.modules['_coursegrade_probe'] = m\n"
    "    m.seed_all()\n"
    "_coursegrade_install({src!r}); del _coursegrade_install\n")
PROBE = "__import__('sys').modules['_coursegrade_probe']"


def error_output(ename, evalue):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class SandboxedExecute(Execute):
    notebook_timeout = Integer(600, help="Seconds for the whole notebook (restarts included).").tag(config=True)
    sandbox_mode = Unicode("auto", help="'bwrap', 'rlimit' (limits only) or 'auto'.").tag(config=True)
    memory_limit = Integer(2 * 2**30, help="Bytes of address space per kernel.").tag(config=True)
    process_limit = Integer(128, help="Processes + threads per kernel.").tag(config=True)
    hide = List(Unicode(), help="More folders to hide from kernels.").tag(config=True)
    expose = List(Unicode(), help="More folders to show read-only to kernels.").tag(config=True)
    course_root = Unicode("", help="The course folder (hidden from kernels).").tag(config=True)
    source_dir = Unicode("", help="The assignment's source folder (files for the clean check).").tag(config=True)
    clean_check = Bool(True, help="Re-run instructor cells in a clean process.").tag(config=True)
    verified_tests = List(Unicode(), allow_none=True, default_value=None,
                          help="Tests the clean check decides (None: all).").tag(config=True)
    report_path = Unicode("", help="Where to write the JSON report.").tag(config=True)
    max_restarts = Integer(3, help="Kernel restarts allowed per notebook.").tag(config=True)

    # ---- kernel lifecycle -------------------------------------------------------------------
    def create_kernel_manager(self):
        ksm = KernelSpecManager(kernel_dirs=[self.scratch.kernel_dirs], ensure_native_kernel=False)
        self.km = self.kernel_manager_class(
            kernel_name=KERNEL_NAME, kernel_spec_manager=ksm, transport="ipc", ip=self.scratch.ipc_prefix,
            connection_file=self.scratch.connection_file, config=self.config)
        return self.km

    def start_kernel(self):
        self.create_kernel_manager()
        self.start_new_kernel(cwd=self.scratch.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.start_new_kernel_client()
        if not self.kernel_call(INSTALL_PROBE.format(src=PROBE_SOURCE)):
            raise RuntimeError("could not install the grading probe in a fresh kernel")

    def stop_kernel(self, graceful=False):
        """Stop the kernel: politely when it is healthy (then its CPU time is accounted to us),
        at once when it is dead or stuck."""
        if self.km is not None:
            self.shutdown_kernel = "graceful" if graceful else "immediate"
            try:
                self._cleanup_kernel()
            except Exception as e:   # a kernel that killed itself may leave odd state behind
                self.log.warning("kernel cleanup: %s", e)
        kill_uid(self.scratch.uid)       # anything the kernel left behind (matters without bwrap)
        self.km = self.kc = None

    def kernel_call(self, code, timeout=20):
        """Run grader code in the kernel, silently; True if it ran without error."""
        return run_sync(self._kernel_call)(code, timeout)

    async def _kernel_call(self, code, timeout):
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = monotonic() + timeout
        while monotonic() < deadline:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=0.5))
            except Empty:
                if not await ensure_async(self.kc.is_alive()):
                    return False
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]["status"] == "ok"
        return False

    # ---- running cells ----------------------------------------------------------------------
    def label(self, index):
        return self.plan.grade_ids.get(index) or f"cell {index + 1}"

    def problem(self, kind, index, detail):
        self.problems.append({"kind": kind, "cell": None if index is None else self.label(index),
                              "detail": detail})

    def run_cell(self, index, cell, timeout, record):
        """Execute one cell; return None, or why the kernel had to go (it timed out or died)."""
        instructor = self.plan.kinds[index] != "student"
        if instructor:
            path = f"{self.scratch.path}/record/cell-{index}.json" if record else None
            names = self.plan.watch[index] if record else None
            if not self.kernel_call(f"{PROBE}.before_cell(get_ipython().user_ns, {names!r}, {path!r})"):
                self.log.warning("probe not armed for %s", self.label(index))
        self.timeout = max(1, math.ceil(timeout))
        try:
            self.execute_cell(cell, index, store_history=True)
        except CellTimeoutError:
            cell.outputs.append(error_output("CellTimeoutError", f"the cell ran longer than {self.timeout} s and was stopped"))
            return f"timed out after {self.timeout} s"
        except DeadKernelError:
            status = self.km.provisioner.process.returncode if getattr(self.km, "provisioner", None) and getattr(self.km.provisioner, "process", None) else None
            cell.outputs.append(error_output("KernelDied", "the kernel died while running this cell (memory or process limit, or the code killed it)"))
            return f"the kernel died (exit status {status})"
        if instructor and record:
            self.kernel_call(f"{PROBE}.after_cell()")
        return None

    def rebuild(self, previous, skip, deadline):
        """New kernel with the state of `previous` cells, minus those in `skip`. False if hopeless."""
        for _ in range(self.max_restarts):
            self.restarts += 1
            self.stop_kernel()
            self.start_kernel()
            for j in previous:
                if j in skip:
                    continue
                if deadline - monotonic() < 1:
                    return False
                original = self.nb.cells[j]
                failure = self.run_cell(j, copy.deepcopy(original), min(self.cell_timeout, deadline - monotonic()), record=False)
                self.nb.cells[j] = original
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
            cell = self.nb.cells[index]
            left = deadline - monotonic()
            if left < 1:
                for j in order[pos:]:
                    self.nb.cells[j].outputs.append(error_output(
                        "NotebookTimeout", f"the notebook's {self.notebook_timeout} s limit ran out before this cell"))
                self.problem("timeout", None, f"notebook time limit ({self.notebook_timeout} s) reached at {self.label(index)}")
                return
            failure = self.run_cell(index, cell, min(self.cell_timeout, left), record=True)
            if failure:
                self.problem("timeout" if "timed out" in failure else "kernel", index, failure)
                skip.add(index)
                if not self.rebuild(order[:pos], skip, deadline):
                    for j in order[pos + 1:]:
                        self.nb.cells[j].outputs.append(error_output("KernelDied", "not run: the kernel could not be restarted"))
                    self.problem("kernel", None, "gave up restarting the kernel")
                    return

    # ---- the clean check --------------------------------------------------------------------
    def run_clean_check(self):
        check = self.scratch.path / "check"        # mode 0700: the kernel never reads it
        if self.source_dir and os.path.isdir(self.source_dir):
            shutil.copytree(self.source_dir, check, ignore=shutil.ignore_patterns("*.ipynb", ".*"),
                            dirs_exist_ok=True)
        job = {
            "cells": [{"index": i, "kind": k, "source": self.nb.cells[i].source,
                       "grade_id": self.plan.grade_ids.get(i)}
                      for i, k in sorted(self.plan.kinds.items()) if k != "student"],
            "record_dir": str(self.scratch.path / "record"),
            "student_sources": self.plan.student_sources,
            "student_imports": self.plan.student_imports,
            "max_record_bytes": probe.MAX_RECORD_BYTES,
        }
        (check / "job.json").write_text(json.dumps(job))
        env = dict(kernel_env(check), HOME=str(check), TMPDIR=str(check), MPLCONFIGDIR=str(check))
        try:
            proc = subprocess.run([sys.executable, "-P", "-m", "coursegrade.replay", "job.json", "result.json"],
                                  cwd=check, env=env, capture_output=True, text=True, timeout=self.notebook_timeout)
            if proc.returncode == 0:
                return json.loads((check / "result.json").read_text())
            reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        except subprocess.TimeoutExpired:
            reason = f"took longer than {self.notebook_timeout} s"
        self.problem("grader", None, f"the clean check failed: {reason}")
        return {}

    def apply_clean_check(self, results):
        for index, kind in sorted(self.plan.kinds.items()):
            if kind != "test":
                continue
            gid, cell = self.plan.grade_ids[index], self.nb.cells[index]
            in_kernel = not any(o.output_type == "error" for o in cell.outputs)
            clean = results.get(gid, {"ok": False, "error": "no result from the clean check", "result": None})
            decided = self.verified_tests is None or gid in self.verified_tests
            self.tests[gid] = {"kernel": in_kernel, "clean": clean["ok"], "decided_by_clean_check": decided,
                               "error": clean["error"]}
            if not decided:
                continue
            if in_kernel and not clean["ok"]:
                cell.outputs.append(error_output(
                    "IntegrityCheckFailed",
                    f"this test passed in your notebook but fails when re-checked with clean libraries: {clean['error']}"))
                self.problem("tampering", index, f"passes in the kernel, fails the clean check: {clean['error']}")
            # a numeric last expression is partial credit for nbgrader: take the clean value
            cell.outputs = [o for o in cell.outputs if o.output_type != "execute_result"]
            if clean["ok"] and clean.get("result") is not None:
                cell.outputs.append(nbformat.v4.new_output("execute_result", data={"text/plain": clean["result"]}))

    # ---- entry point ------------------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.interrupt_on_timeout = False          # a stuck cell's kernel is replaced instead
        self.cell_timeout = self.timeout or 60
        self.plan = cells.plan(nb)
        self.problems, self.tests, self.restarts = [], {}, 0
        self.workdir = (resources or {}).get("metadata", {}).get("path") or os.getcwd()
        sandbox = Sandbox(mode=self.sandbox_mode, hide=list(self.hide), expose=list(self.expose),
                          limits=Limits(memory=self.memory_limit, nproc=self.process_limit,
                                        cpu=self.notebook_timeout + 30))
        self.scratch = make_scratch(self.course_root or os.getcwd(), self.workdir, sandbox)
        try:
            self.run_notebook()
            self.stop_kernel(graceful=True)
            for index, reasons in self.plan.suspicious.items():
                self.problem("suspicious", index, "; ".join(reasons))
            for index in self.plan.kinds:
                for out in self.nb.cells[index].outputs:
                    if out.output_type == "error" and out.get("ename") == "MemoryError":
                        self.problem("memory", index, "MemoryError: the memory limit was reached")
            if self.clean_check:
                self.apply_clean_check(self.run_clean_check())
        finally:
            self.stop_kernel()
            shutil.rmtree(self.scratch.path, ignore_errors=True)
        mode = sandbox.resolved_mode()
        if self.scratch.uid is None and os.geteuid() == 0:
            mode += " (kernel as root: Python is in a private folder)"
        report = {"problems": self.problems, "tests": self.tests, "restarts": self.restarts, "sandbox": mode}
        self.resources["coursegrade"] = report
        if self.report_path:
            Path(self.report_path).write_text(json.dumps(report, indent=1))
        return self.nb, self.resources
