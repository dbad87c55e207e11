"""A throw-away PostgreSQL server on 127.0.0.1 for the gradebook tests (Debian's binaries)."""
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class ServerUnavailable(RuntimeError):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server():
    """Yield the URL of a fresh database `gradebook` on a private server; stop it afterwards.

    Runs as `nobody` when we are root (PostgreSQL refuses to run as root). Raises
    ServerUnavailable, with the reason, when the binaries are missing or the server cannot start.
    """
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        raise ServerUnavailable("no PostgreSQL binaries under /usr/lib/postgresql (run tools/install_sysdeps.sh)")
    initdb, pg_ctl = f"{bins[-1]}/initdb", f"{bins[-1]}/pg_ctl"
    root = Path(tempfile.mkdtemp(prefix="cg-pg-"))
    data, log = root / "data", root / "server.log"
    as_user = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chmod(root, 0o755)
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
        as_user = ["runuser", "-u", "nobody", "--"]
    port = free_port()
    run = lambda *cmd: subprocess.run([*as_user, *cmd], cwd=root, capture_output=True, text=True, timeout=120)
    try:
        p = run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        if p.returncode:
            raise ServerUnavailable(f"initdb failed: {p.stderr.strip()[-300:]}")
        p = run(pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "start",
                "-o", f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off")
        if p.returncode:
            raise ServerUnavailable(f"the server did not start: {log.read_text()[-300:] if log.exists() else p.stderr}")
        import psycopg2
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE gradebook")
        conn.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/gradebook"   # SQLAlchemy 2 would pick psycopg 3
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)
