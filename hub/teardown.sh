#!/usr/bin/env bash
# Undoes hub/setup.sh (as root, with the same NNHUB_* settings): stops the hub and its
# proxy (by their pid files), ends what is left running under the course accounts,
# deletes those accounts with their homes (only accounts setup.sh made: their GECOS
# field says so), the group if setup.sh created it, the ACL entries it added, and the
# state folder (exchange included). Safe to run twice, or after a half-done setup.
set -uo pipefail
. "$(dirname "$0")/settings.sh"
[ "$(id -u)" = 0 ] || die "run as root"
safe_state

stop_pid_file() {
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$file"
}
stop_pid_file "$STATE/jupyterhub.pid"       # the hub stops the servers it started
stop_pid_file "$STATE/jupyterhub-proxy.pid"

for user in $INSTRUCTOR $STUDENTS; do
  getent passwd "$user" >/dev/null || continue
  if [ "$(getent passwd "$user" | cut -d: -f5)" != "$MARK" ]; then
    echo "hub: leaving account $user alone: hub/setup.sh did not create it" >&2
    continue
  fi
  uid=$(id -u "$user")
  for sig in TERM KILL; do   # what the hub did not stop: this account's processes only
    pids=$(ps -o pid= -u "$uid" | tr -d ' ')
    [ -z "$pids" ] && break
    kill -$sig $pids 2>/dev/null
    sleep 1
  done
  userdel --remove "$user" 2>/dev/null || userdel --remove --force "$user"
  getent group "$user" >/dev/null && groupdel "$user" 2>/dev/null
done

if [ -f "$STATE/acl" ]; then
  while read -r dir had; do
    [ -d "$dir" ] || continue
    if [ "$had" = none ]; then setfacl -b "$dir"; else setfacl -x "g:$GROUP" "$dir"; fi
  done < "$STATE/acl"
fi
if [ -f "$STATE/created-group" ] && getent group "$GROUP" >/dev/null; then
  groupdel "$GROUP"
fi
[ -f "$STATE/.nn-course-hub" ] && rm -rf "$STATE"
echo "hub: removed $STATE and the accounts $INSTRUCTOR $STUDENTS"
