#!/usr/bin/env bash
# Third-party dependencies of mlgym-tasks-cv (idempotent). torch only as the local CPU wheel.
set -euo pipefail
PY=${PYTHON:-python3}
"$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q "numpy>=1.26" "pillow>=10" "pandas>=2" "pyarrow>=14" "datasets>=2.16"
