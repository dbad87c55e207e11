"""Jupyter Server settings for every user's server on the course hub.

JupyterHub's single-user server sends `Content-Security-Policy: frame-ancestors 'none'`
unless a policy is configured (jupyterhub/singleuser/extension.py, JupyterHub >= 4.1),
which stops JupyterLab from showing nbgrader's formgrader in its iframe (a blank panel:
nbgrader issues #1870, #1947). The formgrader is served by the same server, so allowing
frames from this origin only is enough; other sites still cannot frame the server.
"""
from pathlib import Path

c = get_config()  # noqa: F821
CSP = "frame-ancestors 'self'"
c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": CSP}}
c.ServerApp.terminals_enabled = True
c.LanguageServerManager.autodetect = False
# No "news" pop-up, update checks or extension manager (nothing reaches the internet).
c.LabApp.app_settings_dir = str(Path(__file__).resolve().parent / "lab-settings")
