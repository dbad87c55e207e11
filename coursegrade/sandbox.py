"""Per-submission kernel sandboxes, as kernelspecs that nbgrader starts by name.

Every submission gets a scratch folder with its own kernelspec (`kernel_argv` below): bubblewrap
(`bwrap`) when it works on this machine, otherwise resource limits only (the fallback). The kernel
talks to the grader over IPC sockets (files in the scratch folder), so it can run without any
network. The student's notebook is never modified: the kernel is chosen by name (`kernel_name`).

What the bubblewrap sandbox sees (see README.md, "Threat model"):
  * the whole file system read-only, except the hidden folders below, which are replaced by empty
    tmpfs: the course folder (solutions/, gradebook, other students), every user's home, /tmp,
    /var/tmp, /run (local sockets such as PostgreSQL's), and any `hide` path;
  * read-only again inside them: the Python installation and coursegrade (`expose`); the
    course's own package (nnutils) only where an assignment declares it (`packages`): otherwise
    "do not call the reference" is enforced, since the reference cannot be imported;
  * read-write: only the submission's working folder and the scratch folder (IPC sockets); HOME
    and TMPDIR are size-limited tmpfs; a watchdog (coursegrade.execute) stops a kernel whose
    files on the grader's disk outgrow the quota;
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
COURSE_PACKAGES = ("nnutils",)      # importable in a grading kernel only where an assignment declares it


@dataclass
class Limits:
    memory: int = 2 * 2**30         # bytes of address space (RLIMIT_AS)
    cpu: int = 600                  # CPU seconds for the kernel's whole life (RLIMIT_CPU)
    nproc: int = 128                # processes + threads (RLIMIT_NPROC)
    fsize: int = 256 * 2**20        # largest file it may write (RLIMIT_FSIZE)
    nofile: int = 256               # open files (RLIMIT_NOFILE)
    shm: int = 256 * 2**20          # size of its private /dev/shm (bubblewrap only)
    disk: int = 256 * 2**20         # bytes it may write to disk (tmpfs size; watchdog quota)

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
    packages: list = field(default_factory=list)  # course packages the assignment lets kernels import

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


def default_exposed(packages=()):
    """Read-only paths the kernel needs: the interpreter, the venv, coursegrade (its launcher),
    and the course packages an assignment declares."""
    paths = {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parents[1])}
    paths.update(p for p in map(package_dir, ["coursegrade", *packages]) if p)
    return sorted(paths)


def default_hidden(course_root):
    """Folders replaced by empty tmpfs in the sandbox."""
    hidden = {str(Path(course_root).resolve()), "/root", "/home", "/tmp", "/var/tmp", "/run",
              str(Path.home().resolve())}
    for pkg in (*COURSE_PACKAGES, "coursegrade"):   # their source checkout holds solutions/ too
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
        "PYTHONPATH": f"{scratch}/shadow",
    }


SHADOW = ('raise ImportError("{name} is not available while grading: this assignment asks for your '
          'own code, not the course reference")\n')


def write_shadows(scratch, packages):
    """Stand-ins that make undeclared course packages fail to import with a clear message (first
    on the kernel's sys.path; inside bubblewrap the real ones are not even visible)."""
    for name in COURSE_PACKAGES:
        if name not in packages:
            (scratch / "shadow" / name).mkdir(parents=True)
            (scratch / "shadow" / name / "__init__.py").write_text(SHADOW.format(name=name))


def kernel_argv(sandbox, course_root, scratch, uid):
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
    exposed = sorted(default_exposed(sandbox.packages) + [str(p) for p in sandbox.expose], key=len)
    args = ["bwrap", "--ro-bind", "/", "/"]
    for path in hidden:
        args += ["--tmpfs", path]
    for path in exposed:
        args += ["--ro-bind", path, path]
    args += ["--bind", str(scratch), str(scratch)]
    for sub in ("home", "tmp"):              # written in memory, within the disk quota
        args += ["--size", str(sandbox.limits.disk), "--tmpfs", f"{scratch}/{sub}", "--chmod", "1777", f"{scratch}/{sub}"]
    # bwrap creates the mount points inside a tmpfs as 0700 root: let the kernel pass through.
    for path in exposed + [str(scratch)]:
        for parent in Path(path).parents:
            if any(parent.is_relative_to(h) and str(parent) != h for h in hidden):
                args += ["--chmod", "0755", str(parent)]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(sandbox.limits.shm), "--tmpfs", "/dev/shm", "--chmod", "1777", "/dev/shm",
             "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
             "--unshare-cgroup-try", "--die-with-parent", "--new-session",
             "--clearenv", "--unsetenv", "JPY_PARENT_PID", "--chdir", f"{scratch}/work"]
    if os.geteuid() != 0:
        # Unprivileged: bwrap needs a user namespace; the kernel keeps the grader's uid there.
        args += ["--unshare-user", "--cap-drop", "ALL"]
    # As root there is no user namespace: the launcher switches to `uid` itself (real uid, so
    # RLIMIT_NPROC counts only this sandbox's processes) and drops every capability with it.
    return args + ["--"] + launch


@dataclass
class Scratch:
    """One kernel's private folder (short path: IPC socket paths are limited to ~100 bytes).

    work/    the kernel's working folder: a copy of the submission's files, notebooks excluded
             (the sanitized notebook holds the hidden tests)
    ipc/     the kernel's sockets;  home/, tmp/: HOME and TMPDIR;  shadow/: see write_shadows
    conn/    the connection file (root-owned when grading as root)
    kernels/ the kernelspec;  check/: the tests' working folder (never readable by the kernel)
    """
    path: Path
    uid: int
    kernel_dirs: str
    connection_file: str
    ipc_prefix: str
    workdir: str


def others_can_run_python():
    """True if a user with no rights of its own can run this Python (not under a private home)."""
    for path in default_exposed():
        p = Path(path)
        for folder in [p, *p.parents]:
            if folder.exists() and not folder.stat().st_mode & 0o001:
                return False
    return True


def kernel_uid(sandbox):
    """The uid kernels run as when grading as root: one per grading process (None: unchanged).

    Inside bubblewrap the Python installation is re-mounted where any uid can read it; without it
    (the fallback) a Python under a private folder such as /root forces the kernel to stay root.
    """
    if os.geteuid() != 0:
        return None
    if sandbox.resolved_mode() == "bwrap" or others_can_run_python():
        return 200000 + os.getpid()
    return None


def make_scratch(course_root, submission_dir, sandbox):
    scratch = Path(tempfile.mkdtemp(prefix="cg-", dir="/tmp" if os.path.isdir("/tmp") else None))
    uid = kernel_uid(sandbox)
    for sub in ("kernels/" + KERNEL_NAME, "conn"):
        (scratch / sub).mkdir(parents=True)
    (scratch / "check").mkdir(mode=0o700)
    for sub in ("ipc", "home", "tmp"):
        (scratch / sub).mkdir(mode=0o700)
    write_shadows(scratch, sandbox.packages)
    if uid is not None:
        os.chmod(scratch, 0o711)
        for sub in ("ipc", "home", "tmp"):
            os.chown(scratch / sub, uid, uid)
    fill_workdir(scratch / "work", submission_dir, uid)
    spec = {"argv": kernel_argv(sandbox, course_root, scratch, uid),
            "display_name": "Python 3 (coursegrade sandbox)", "language": "python",
            "interrupt_mode": "message", "env": {}}
    (scratch / "kernels" / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec, indent=1))
    return Scratch(scratch, uid, str(scratch / "kernels"), str(scratch / "conn" / "kernel.json"),
                   str(scratch / "ipc" / "k"), str(scratch / "work"))


def fill_workdir(work, submission_dir, uid):
    """(Re)make the kernel's working folder: the submission's files, notebooks excluded. A
    restarted kernel starts from these again (nothing a killed kernel wrote is kept)."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(submission_dir, work, ignore=shutil.ignore_patterns("*.ipynb"))
    if uid is not None:
        for root, dirs, files in os.walk(work):
            for name in [root] + [os.path.join(root, f) for f in files]:
                os.chown(name, uid, uid)


GRADER_OWN = ("check", "kernels", "conn", "shadow")


def scratch_usage(scratch):
    """Bytes on disk of what the kernel can write in its scratch folder (sparse files count as
    what they really occupy)."""
    total, stack = 0, [e.path for e in os.scandir(scratch.path) if e.name not in GRADER_OWN]
    while stack:
        path = stack.pop()
        try:
            st = os.lstat(path)
            total += st.st_blocks * 512
            if os.path.isdir(path) and not os.path.islink(path):
                stack.extend(e.path for e in os.scandir(path))
        except OSError:
            pass
    return total


def kill_uid(uid):
    """Kill every process left running as `uid` (a kernel's own uid: only its descendants)."""
    if uid is None:
        return
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uids = next(l for l in status.read_text().splitlines() if l.startswith("Uid:")).split()[1:]
            if str(uid) in uids:
                os.kill(int(status.parent.name), 9)
        except (OSError, StopIteration, ValueError):
            pass
