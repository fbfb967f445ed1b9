#!/usr/bin/env bash
# Third-party dependencies of mlgym-tasks-tabular (idempotent). The agent's sandbox uses the
# same Python installation, so the agent's python gets pandas and scikit-learn too.
set -euo pipefail
PY=${PYTHON:-python3}
"$PY" -m pip install --quiet "pandas>=2.0" "scikit-learn>=1.2"
