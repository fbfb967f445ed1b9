#!/usr/bin/env bash
# Set up mlgym on a fresh machine and run a first real episode.
#   bash setup.sh            install everything, then run battleOfSexes with the baseline agent
#   MLGYM_SETUP_NO_EPISODE=1 bash setup.sh   install only
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
export PYTHON="$PY"   # the plugins' ci/setup.sh (what pip cannot install) see the same interpreter

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  say "system packages: bubblewrap (sandbox), flake8 (edit linting), chromium (report tests)"
  apt-get update -qq >/dev/null 2>&1 || say "warning: apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap flake8 chromium chromium-driver >/dev/null 2>&1 \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap flake8 >/dev/null 2>&1 \
    || say "warning: could not install bubblewrap; episodes will run WITHOUT isolation"
else
  command -v bwrap >/dev/null 2>&1 || say "warning: bubblewrap not found and not root: install it (apt-get install bubblewrap) for isolation"
fi

say "python packages"
"$PY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# The CPU build of torch first: a range it satisfies then installs nothing more (task packs' [train] extras).
"$PY" -m pip install -q torch==2.13.0 || say "warning: torch==2.13.0 not available; CV/NLP task packs will be skipped"
"$PY" -m pip install -q -e ".[test,report]"
for p in plugins/*/; do
  name=$(basename "$p")
  if [ -f "$p/ci/setup.sh" ]; then
    say "plugin $name: what pip cannot install"
    bash "$p/ci/setup.sh"
  fi
  say "plugin $name, with its [test] extra"
  "$PY" -m pip install -q -e "${p%/}[test]"
done

say "installed into $("$PY" -c 'import sys; print(sys.prefix)')"
"$PY" -m mlgym_core list-plugins
if [ -z "${MLGYM_SETUP_NO_EPISODE:-}" ]; then
  say "first episode: battleOfSexes with the baseline agent (local runtime, no API key)"
  "$PY" -m mlgym_core run --task battleOfSexes --agent baseline --output runs
fi
