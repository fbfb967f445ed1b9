#!/usr/bin/env bash
# The attack suite (tests/security) run as an ordinary user, after the root run of the whole
# suite: every promise in docs/security.md holds for both. Needs root (to make the user).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "[ci] security-as-user: already an ordinary user; the main run covered it"; exit 0; fi
user=mlgymtester
id -u "$user" >/dev/null 2>&1 || useradd -m "$user" || { echo "[ci] could not create user $user"; exit 1; }
# The user must reach the checkout and the Python installation: open their paths for traversal.
for start in "$(pwd)" $(python -c 'import sys; print(sys.prefix, sys.base_prefix)'); do
  d=$start
  while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
done
chmod -R o+rX . 2>/dev/null || true
home=$(runuser -u "$user" -- mktemp -d /tmp/mlgym-user-home.XXXXXX)
echo "[ci] tests/security as $user (uid $(id -u "$user")), MLGYM_HOME=$home"
runuser -u "$user" -- env -u MLGYM_DATA_DIR HOME="$(getent passwd "$user" | cut -d: -f6)" MLGYM_HOME="$home" \
  MLGYM_STRICT_PLUGINS=1 PATH="$PATH" python -m pytest -q -p no:cacheprovider tests/security
rc=$?
rm -rf "$home"
exit $rc
