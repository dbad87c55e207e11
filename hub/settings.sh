# Settings shared by hub/setup.sh and hub/teardown.sh (sourced, not run). Each can be
# overridden from the environment; tests/test_hub.py uses names, state folder and ports
# of its own.
HUB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HUB_DIR")
VENV=${NNHUB_VENV:-$REPO/.venv}
# hub database, secrets, passwords, the exchange
STATE=${NNHUB_STATE:-/srv/nn-course-hub}
GROUP=${NNHUB_GROUP:-nn-course-hub}                  # every course account is in it
INSTRUCTOR=${NNHUB_INSTRUCTOR:-nn-instructor}
# space-separated Unix (and nbgrader) names
STUDENTS=${NNHUB_STUDENTS:-nn-student1 nn-student2}
COURSE_ID=nn-course          # = c.CourseDirectory.course_id in ../nbgrader_config.py
ASSIGNMENTS=${NNHUB_ASSIGNMENTS:-}   # solutions/ folders to copy (default: all)
ROSTER=${NNHUB_ROSTER:-}             # class roster CSV for the gradebook (default: demo names)
# Written into the GECOS field of every account setup.sh creates; teardown.sh removes
# only those.
MARK="nn-course hub account (hub/setup.sh)"

die() { echo "hub: $*" >&2; exit 1; }

safe_state() {   # refuse to rm -rf anything but a hub state folder
  case "$STATE" in
    /|/root|/home|/srv|/tmp|/usr|/etc|"") die "refusing NNHUB_STATE=$STATE";;
  esac
}
