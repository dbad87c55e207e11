"""Start an ipykernel with resource limits, as an unprivileged user.

Runs as the first process inside the sandbox (or alone, in the fallback without bubblewrap):

    python -I -m coursegrade.launch --uid 201234 --limit AS=2147483648 ... --env KEY=VALUE ...
           -- python -m ipykernel_launcher -f CONNECTION_FILE [kernel args]

`-I` (isolated mode) keeps the student's working directory off sys.path, so a submission cannot
plant its own `coursegrade/launch.py`. When started as root it lets the (unprivileged) kernel read
its connection file, drops to `--uid`, sets no_new_privs (no setuid binary can regain root), then
sets the rlimits, asks to be killed when its parent (the grader) dies, and replaces itself with the
kernel, with exactly the `--env` environment.
"""
import argparse
import ctypes
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
libc = ctypes.CDLL(None, use_errno=True)


def prctl(option, value):
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def drop_privileges(uid, connection_file):
    os.chmod(connection_file, 0o644)   # it lives in a root-owned folder the kernel cannot change
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="coursegrade.launch")
    parser.add_argument("--uid", type=int, default=None)
    parser.add_argument("--limit", action="append", default=[], help="NAME=VALUE, e.g. AS=2147483648")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the kernel")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.uid is not None and os.geteuid() == 0:
        drop_privileges(args.uid, command[command.index("-f") + 1])
    for item in args.limit:
        name, value = item.split("=")
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (int(value), int(value)))
    env = dict(item.split("=", 1) for item in args.env)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)      # die with the grader (set after the uid change)
    os.execve(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main())
