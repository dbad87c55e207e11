"""Per-submission kernel sandboxes, as kernelspecs that nbgrader starts by name.

Every submission gets a scratch folder with its own kernelspec (`kernel_argv` below): bubblewrap
(`bwrap`) when it works on this machine, otherwise resource limits only (the fallback). The kernel
talks to the grader over IPC sockets (files in the scratch folder), so it can run without any
network. The student's notebook is never modified: the kernel is chosen by name (`kernel_name`).

What the bubblewrap sandbox sees (see README.md, "Threat model"):
  * the whole file system read-only, except the hidden folders below, which are replaced by empty
    tmpfs: the course folder (solutions/, gradebook, other students), every user's home, /tmp,
    /var/tmp, /run (local sockets such as PostgreSQL's), and any `hide` path;
  * read-only again inside them: the Python installation and packages (`expose`, e.g. nnutils);
  * read-write: only the submission's working folder and the scratch folder (TMPDIR, IPC sockets);
  * new PID, network (loopback only), IPC, UTS and cgroup namespaces; a fresh /proc and /dev;
  * no environment but the one given (no credentials leak through variables);
  * as a separate user (a uid of its own when the grader is root), with rlimits on memory, CPU
    seconds, processes, file size and open files (coursegrade/launch.py).
"""
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

KERNEL_NAME = "coursegrade"


@dataclass
class Limits:
    memory: int = 2 * 2**30         # bytes of address space (RLIMIT_AS)
    cpu: int = 600                  # CPU seconds for the kernel's whole life (RLIMIT_CPU)
    nproc: int = 128                # processes + threads (RLIMIT_NPROC)
    fsize: int = 256 * 2**20        # largest file it may write (RLIMIT_FSIZE)
    nofile: int = 256               # open files (RLIMIT_NOFILE)

    def rlimits(self):
        return {"AS": self.memory, "CPU": self.cpu, "NPROC": self.nproc, "FSIZE": self.fsize,
                "NOFILE": self.nofile, "CORE": 0}


@dataclass
class Sandbox:
    """How to sandbox kernels. mode: 'bwrap', 'rlimit' (fallback) or 'auto' (bwrap if it works)."""
    mode: str = "auto"
    limits: Limits = field(default_factory=Limits)
    hide: list = field(default_factory=list)      # more folders to hide (besides the defaults)
    expose: list = field(default_factory=list)    # folders to show read-only inside hidden ones

    def resolved_mode(self):
        if self.mode == "auto":
            return "bwrap" if bwrap_works() else "rlimit"
        return self.mode


@functools.lru_cache(maxsize=None)
def bwrap_works():
    """True if bubblewrap can create the namespaces we need on this machine."""
    if not shutil.which("bwrap"):
        return False
    args = ["bwrap", "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "true"]
    if os.geteuid() != 0:
        args.insert(1, "--unshare-user")
    return subprocess.run(args, capture_output=True).returncode == 0


def package_dir(name):
    """Folder of an importable package (found without importing it), or None."""
    import importlib.util
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(list(spec.submodule_search_locations)[0]).resolve())


def default_exposed():
    """Read-only paths the kernel needs: the interpreter, the venv, and these course packages."""
    paths = {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parents[1])}
    paths.update(p for p in (package_dir("nnutils"), package_dir("coursegrade")) if p)
    return sorted(paths)


def default_hidden(course_root):
    """Folders replaced by empty tmpfs in the sandbox."""
    hidden = {str(Path(course_root).resolve()), "/root", "/home", "/tmp", "/var/tmp", "/run",
              str(Path.home().resolve())}
    for pkg in ("nnutils", "coursegrade"):   # their source checkout holds solutions/ too
        d = package_dir(pkg)
        if d:
            hidden.add(str(Path(d).parent))
    return {h for h in hidden if os.path.isdir(h) and h != "/"}


def kernel_env(scratch):
    """The kernel's whole environment: deterministic, single-threaded, nothing inherited."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": f"{scratch}/home", "TMPDIR": f"{scratch}/tmp", "MPLCONFIGDIR": f"{scratch}/tmp",
        "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1", "NBGRADER_EXECUTION": "autograde",
    }


def kernel_argv(sandbox, course_root, workdir, scratch, uid):
    """The kernelspec argv: [bwrap ... --] python -I -m coursegrade.launch ... -- ipykernel."""
    py = sys.executable
    launch = [py, "-I", "-m", "coursegrade.launch"]
    if uid is not None:
        launch += ["--uid", str(uid)]
    launch += [f"--limit={k}={v}" for k, v in sandbox.limits.rlimits().items()]
    launch += [f"--env={k}={v}" for k, v in kernel_env(scratch).items()]
    launch += ["--", py, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if sandbox.resolved_mode() != "bwrap":
        return launch

    hidden = sorted(default_hidden(course_root) | set(map(str, sandbox.hide)), key=len)
    exposed = sorted(default_exposed() + [str(p) for p in sandbox.expose], key=len)
    args = ["bwrap", "--ro-bind", "/", "/"]
    for path in hidden:
        args += ["--tmpfs", path]
    for path in exposed:
        args += ["--ro-bind", path, path]
    args += ["--bind", str(workdir), str(workdir), "--bind", str(scratch), str(scratch)]
    # bwrap creates the mount points inside a tmpfs as 0700 root: let the kernel pass through.
    for path in exposed + [str(workdir), str(scratch)]:
        for parent in Path(path).parents:
            if any(parent.is_relative_to(h) and str(parent) != h for h in hidden):
                args += ["--chmod", "0755", str(parent)]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
             "--unshare-cgroup-try", "--die-with-parent", "--new-session",
             "--clearenv", "--unsetenv", "JPY_PARENT_PID", "--chdir", str(workdir)]
    if os.geteuid() != 0:
        # Unprivileged: bwrap needs a user namespace; the kernel keeps the grader's uid there.
        args += ["--unshare-user", "--cap-drop", "ALL"]
    # As root there is no user namespace: the launcher switches to `uid` itself (real uid, so
    # RLIMIT_NPROC counts only this sandbox's processes) and drops every capability with it.
    return args + ["--"] + launch


def make_scratch(course_root, workdir, sandbox):
    """A fresh scratch folder for one kernel: kernelspec, connection file, IPC sockets, TMPDIR.

    Returns (scratch, kernel_dirs, connection_file, ipc_prefix). Short paths under the system
    temp folder (IPC socket paths are limited to ~100 characters).
    """
    scratch = Path(tempfile.mkdtemp(prefix="cg-", dir="/tmp" if os.path.isdir("/tmp") else None))
    uid = 200000 + os.getpid() if os.geteuid() == 0 else None
    for sub in ("kernels/" + KERNEL_NAME, "conn"):
        (scratch / sub).mkdir(parents=True)
    for sub in ("ipc", "home", "tmp", "record"):
        (scratch / sub).mkdir(mode=0o700)
        if uid is not None:
            os.chown(scratch / sub, uid, uid)
    if uid is not None:
        os.chmod(scratch, 0o711)
        for root, dirs, files in os.walk(workdir):   # the kernel may write in its own folder
            for name in [root] + [os.path.join(root, f) for f in files]:
                os.chown(name, uid, uid)
    spec = {"argv": kernel_argv(sandbox, course_root, workdir, scratch, uid),
            "display_name": "Python 3 (coursegrade sandbox)", "language": "python",
            "interrupt_mode": "message", "env": {}}
    (scratch / "kernels" / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec, indent=1))
    return scratch, str(scratch / "kernels"), str(scratch / "conn" / "kernel.json"), str(scratch / "ipc" / "k")
