#!/usr/bin/env bash
# What pip cannot install for mlgym-tools: the system flake8 (apt), the linter the edit/insert tools
# call inside the sandbox. Its Python dependencies are in pyproject (the [test] extra: [all] and pytest).
# Idempotent.
set -euo pipefail
if ! command -v flake8 >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q flake8 >/dev/null || true
fi
