#!/usr/bin/env bash
# Third-party dependencies of mlgym-tasks-nlp's tests (idempotent). torch is the local CPU wheel
# (2.13.0 satisfies the [train] extra's range); `datasets` (hub access only) is left out.
set -euo pipefail
PY=${PYTHON:-python3}
"$PY" -c "import torch" 2>/dev/null || "$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q "transformers>=4.40" "safetensors>=0.4" "tiktoken>=0.7"
