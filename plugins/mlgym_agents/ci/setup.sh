#!/usr/bin/env bash
# Third-party dependencies of mlgym-agents (idempotent). The openai client is an extra of the
# distribution; CI installs it here so the backend and its tests run against a local server.
set -euo pipefail
PY=${PYTHON:-python3}
"$PY" -m pip install --quiet "openai>=1.40" pyyaml
