"""nbgrader settings for every account of the course hub (on JUPYTER_CONFIG_PATH, set by
hub/jupyterhub_config.py): where the exchange is, which course this is. The instructor's
own ~/.jupyter/nbgrader_config.py (written by hub/setup.sh) adds the course folder."""
import os

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ.get("NNHUB_COURSE_ID", "nn-course")
c.Exchange.root = os.environ.get("NNHUB_EXCHANGE", "/srv/nn-course-hub/exchange")
