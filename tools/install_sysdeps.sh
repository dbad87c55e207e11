#!/usr/bin/env bash
# System packages the test suite needs (Debian): bubblewrap (grading sandbox), PostgreSQL
# (gradebook on a real server), Chromium and a CJK font (browser tests). Idempotent; skipped when present.
set -euo pipefail
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v chromium >/dev/null || need+=(chromium)
# a CJK font, so the browser tests' screenshots of the bilingual pages show 中文, not boxes
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || need+=(fonts-wqy-microhei)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
# setfacl: hub/setup.sh lets course accounts reach a Python installed under /root (tests/test_hub.py)
command -v setfacl >/dev/null || need+=(acl)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install_sysdeps: not root; please install: ${need[*]} (tests needing them will skip with a reason)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# A failed install does not stop the suite: the tests that need a missing tool skip with a reason.
if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
  echo "install_sysdeps: installed ${need[*]}"
else
  echo "install_sysdeps: could not install ${need[*]}; tests that need them will skip and say why" >&2
fi
