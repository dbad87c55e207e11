#!/usr/bin/env bash
# Prepares one machine for the course hub (as root; idempotent; undone by teardown.sh):
#   - the Unix group $GROUP and accounts for the instructor and each student, with
#     random passwords (in $STATE/passwords, readable by root only), homes 0700;
#   - nbgrader's exchange $STATE/exchange with the permissions nbgrader's docs ask for:
#     the root writable by everyone (1777: sticky, so no one can rename another's
#     course folder) and the course folder owned by the instructor (release_assignment
#     then makes outbound/ 0755, inbound/ 2733 (students write, cannot list) and
#     release_feedback feedback/ 0711);
#   - the instructor's course folder ~/nn-course (0700: solutions and gradebook stay
#     private), a copy of the course's nbgrader_config.py and solutions/, and the
#     instructor's ~/.jupyter/nbgrader_config.py pointing nbgrader at it (nbgrader's
#     "one class, one grader"), and the class roster imported into its gradebook;
#   - a check that every account can run the course's Python and import nbgrader.
#     Where the interpreter sits under a folder the accounts cannot enter (this repo's
#     CI keeps pyenv in /root, 0700), the course group gets traverse-only (--x) ACL
#     entries on those folders, recorded in $STATE/acl and removed by teardown.sh. A
#     real server installs Python where every account can run it; nothing changes.
# Finally writes $STATE/hub.json, which hub/jupyterhub_config.py reads.
set -euo pipefail
. "$(dirname "$0")/settings.sh"
PY=$VENV/bin/python

[ "$(id -u)" = 0 ] || die "run as root: it creates Unix accounts (sudo make hub)"
for tool in useradd userdel groupadd chpasswd runuser; do
  command -v $tool >/dev/null || die "$tool is missing (Debian: passwd, util-linux)"
done
[ -x "$PY" ] || die "no virtual environment at $VENV (make creates it)"
[ -x "$HUB_DIR/node_modules/.bin/configurable-http-proxy" ] ||
  die "configurable-http-proxy is not installed: run 'make hub-deps' (npm ci in hub/)"
safe_state

mkdir -p "$STATE"
chmod 0755 "$STATE"
touch "$STATE/.nn-course-hub"     # teardown.sh deletes only a folder marked so
umask 022

# --- group and accounts ---------------------------------------------------------------
if ! getent group "$GROUP" >/dev/null; then
  groupadd "$GROUP"
  touch "$STATE/created-group"
fi
: > "$STATE/passwords.new"
chmod 0600 "$STATE/passwords.new"
for user in $INSTRUCTOR $STUDENTS; do
  if getent passwd "$user" >/dev/null; then
    [ "$(getent passwd "$user" | cut -d: -f5)" = "$MARK" ] ||
      die "account $user exists and was not made by hub/setup.sh:" \
          "choose other names (NNHUB_INSTRUCTOR, NNHUB_STUDENTS)"
  else
    useradd --create-home --shell /bin/bash --comment "$MARK" --groups "$GROUP" "$user"
  fi
  chmod 0700 "$(getent passwd "$user" | cut -d: -f6)"
  password=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(15))')
  echo "$user:$password" | chpasswd
  echo "$user $password" >> "$STATE/passwords.new"
done
mv "$STATE/passwords.new" "$STATE/passwords"
IHOME=$(getent passwd "$INSTRUCTOR" | cut -d: -f6)
COURSE=$IHOME/$COURSE_ID

# --- can the accounts run the course's Python? ----------------------------------------
runs() {
  runuser -u "$INSTRUCTOR" -- "$PY" -c 'import jupyterhub, jupyterlab, nbgrader' \
    2>/dev/null
}
if ! runs; then
  command -v setfacl >/dev/null ||
    die "$INSTRUCTOR cannot run $PY and setfacl is missing (Debian: acl)"
  real=$(readlink -f "$PY")
  for target in "$real" "$VENV/lib"; do
    # from / down: a folder can be tested only once its parents let the account through
    dirs=() dir=$(dirname "$target")
    while [ "$dir" != / ]; do dirs=("$dir" "${dirs[@]}"); dir=$(dirname "$dir"); done
    for dir in "${dirs[@]}"; do
      runuser -u "$INSTRUCTOR" -- test -x "$dir" && continue
      if ! grep -q "^$dir " "$STATE/acl" 2>/dev/null; then
        # remember whether it had an ACL of its own, so teardown restores it exactly
        had=none
        [ -n "$(getfacl --skip-base --absolute-names "$dir" 2>/dev/null)" ] && had=acl
        echo "$dir $had" >> "$STATE/acl"
      fi
      setfacl -m "g:$GROUP:--x" "$dir"
      echo "hub: gave group $GROUP traverse-only access to $dir (teardown.sh undoes it)"
    done
  done
  runs || die "$INSTRUCTOR still cannot run $PY with nbgrader:" \
              "install the venv where every account can read it"
fi

# --- exchange -------------------------------------------------------------------------
EXCHANGE=$STATE/exchange
mkdir -p "$EXCHANGE/$COURSE_ID"
chown root:root "$EXCHANGE"
chmod 1777 "$EXCHANGE"
chown "$INSTRUCTOR:$INSTRUCTOR" "$EXCHANGE/$COURSE_ID"
chmod 0755 "$EXCHANGE/$COURSE_ID"

# --- the instructor's course folder ---------------------------------------------------
if [ ! -d "$COURSE" ]; then     # never overwrite a course the instructor works in
  mkdir -p "$COURSE/solutions"
  cp "$REPO/nbgrader_config.py" "$COURSE/"
  for a in ${ASSIGNMENTS:-$(ls "$REPO/solutions")}; do
    [ -d "$REPO/solutions/$a" ] || die "no assignment solutions/$a"
    cp -r "$REPO/solutions/$a" "$COURSE/solutions/"
  done
fi
mkdir -p "$IHOME/.jupyter"
cat > "$IHOME/.jupyter/nbgrader_config.py" <<CONFIG
# Written by hub/setup.sh: nbgrader's "one class, one grader" set-up. The formgrader in
# this account's JupyterLab and every nbgrader command, wherever run, use this course.
c = get_config()  # noqa: F821
load_subconfig("$COURSE/nbgrader_config.py")  # noqa: F821  (course-wide settings)
c.CourseDirectory.root = "$COURSE"
# absolute: the formgrader runs in ~, not in the course folder
c.CourseDirectory.db_url = "sqlite:///$COURSE/gradebook.db"
c.CourseDirectory.course_id = "$COURSE_ID"
c.Exchange.root = "$EXCHANGE"
CONFIG
chown -R "$INSTRUCTOR:$INSTRUCTOR" "$COURSE" "$IHOME/.jupyter"
chmod 0700 "$COURSE"

# --- the class roster in the gradebook ------------------------------------------------
# nbgrader names students from its gradebook (the formgrader's Manage Students, the LMS
# exports); a student it first meets at grading time has no name ("None, None"). A real
# course imports the school's roster: NNHUB_ROSTER=/path/to/roster.csv with the columns
# nbgrader's `db student import` reads (id, first_name, last_name, email). Without one, the
# demo accounts are entered as "Demo, <account>"; importing again updates, never duplicates.
if [ -z "$ROSTER" ]; then
  ROSTER=$COURSE/roster.csv
  { echo "id,first_name,last_name,email"
    for user in $STUDENTS; do
      tail=${user##*-}
      echo "$user,${tail^},Demo,"
    done; } > "$ROSTER"
  chown "$INSTRUCTOR:$INSTRUCTOR" "$ROSTER"
fi
[ -r "$ROSTER" ] || die "NNHUB_ROSTER=$ROSTER cannot be read"
(cd "$COURSE" && runuser -u "$INSTRUCTOR" -- env -i HOME="$IHOME" PATH="$VENV/bin:/usr/bin:/bin" \
   "$VENV/bin/nbgrader" db student import "$ROSTER" >/dev/null) ||
  die "nbgrader could not import the roster $ROSTER"

# --- what jupyterhub_config.py needs --------------------------------------------------
"$PY" - "$STATE/hub.json" <<JSON
import json, sys
json.dump({"instructor": "$INSTRUCTOR", "students": "$STUDENTS".split(),
           "group": "$GROUP", "course_id": "$COURSE_ID", "course_root": "$COURSE",
           "exchange": "$EXCHANGE", "python": "$PY", "venv": "$VENV"},
          open(sys.argv[1], "w"), indent=1)
JSON
echo "hub: ready in $STATE (accounts: $INSTRUCTOR $STUDENTS;" \
     "passwords in $STATE/passwords)"
