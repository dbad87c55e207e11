"""JupyterHub for the course on one machine (hub/README.md): `make hub`, or, as root,
`bash hub/setup.sh` then `jupyterhub -f hub/jupyterhub_config.py`.

- Listens on NNHUB_IP:NNHUB_PORT (127.0.0.1:8000); the hub's own API on 127.0.0.1 at
  NNHUB_HUB_PORT (8081), the proxy's REST API on 127.0.0.1 at NNHUB_PROXY_API_PORT
  (8001). Behind a site's TLS proxy, keep 127.0.0.1 and set NNHUB_PUBLIC_URL.
- Log-in: PAM (the Unix accounts and passwords that hub/setup.sh creates); only the
  course's accounts are allowed, none is a hub admin.
- Each user's JupyterLab runs as that Unix user (LocalProcessSpawner), in their home,
  with nbgrader's extensions; hub/jupyter/ is on their JUPYTER_CONFIG_PATH (exchange,
  course id, the formgrader's frame policy), and students also get hub/jupyter-student/
  (no formgrader).
- State (database, cookie secret, pid files, exchange): NNHUB_STATE
  (/srv/nn-course-hub).
"""
import json
import os
from pathlib import Path

c = get_config()  # noqa: F821  (provided by JupyterHub)

HERE = Path(__file__).resolve().parent
STATE = Path(os.environ.get("NNHUB_STATE", "/srv/nn-course-hub"))
try:
    COURSE = json.loads((STATE / "hub.json").read_text())
except FileNotFoundError:
    raise SystemExit(f"{STATE / 'hub.json'} is missing: run `bash hub/setup.sh` as "
                     "root first (`make hub` does)") from None
PROXY = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
if not PROXY.exists():
    raise SystemExit(f"{PROXY} is missing: run `make hub-deps` (npm ci in hub/)")


def port(name, default):
    return int(os.environ.get(name, default))


ip = os.environ.get("NNHUB_IP", "127.0.0.1")
c.JupyterHub.bind_url = f"http://{ip}:{port('NNHUB_PORT', 8000)}/"
if os.environ.get("NNHUB_PUBLIC_URL"):      # behind TLS: https://hub.example.edu/
    c.JupyterHub.public_url = os.environ["NNHUB_PUBLIC_URL"]
    c.JupyterHub.trusted_downstream_ips = ["127.0.0.1"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = port("NNHUB_HUB_PORT", 8081)
proxy_api = port("NNHUB_PROXY_API_PORT", 8001)
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api}"
c.ConfigurableHTTPProxy.command = [str(PROXY)]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True         # stopping the hub stops every user's server
c.JupyterHub.cleanup_proxy = True

# Who may log in: PAM against the Unix accounts made by hub/setup.sh.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False    # no login session (utmp, systemd) per spawn
c.Authenticator.allowed_users = {COURSE["instructor"], *COURSE["students"]}
c.Authenticator.admin_users = set()

# Each user's JupyterLab, as that user, from the course's virtual environment.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [COURSE["python"], "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 180               # generous: a busy 2-core machine
c.Spawner.http_timeout = 180


def _config_path(spawner):
    """Jupyter config folders: the course's for all, plus the students' for students."""
    dirs = [HERE / "jupyter"]
    if spawner.user.name != COURSE["instructor"]:
        dirs.insert(0, HERE / "jupyter-student")
    return os.pathsep.join(map(str, dirs))


c.Spawner.environment = {
    "JUPYTER_CONFIG_PATH": _config_path,
    "NNHUB_EXCHANGE": COURSE["exchange"],
    "NNHUB_COURSE_ID": COURSE["course_id"],
    "PATH": f"{COURSE['venv']}/bin:/usr/local/bin:/usr/bin:/bin",
    "OMP_NUM_THREADS": "1",                 # the course's convention: one torch thread
}
