#!/usr/bin/env bash
# Third-party dependencies of mlgym-tasks-nlp's tests (idempotent). torch is the local CPU wheel;
# `datasets` (hub access) is not needed offline and is left out.
set -euo pipefail
python -c "import torch" 2>/dev/null || pip install torch==2.13.0
pip install "transformers>=4.40" "safetensors>=0.4" "tiktoken>=0.7"
