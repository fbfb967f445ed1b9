#!/usr/bin/env bash
# Third-party dependencies of mlgym-tasks-rl: CPU JAX and the versions the pack was tested with.
# Idempotent; assumes nothing installed by hand. gymnax 1.0.1 is pinned (step() returns
# terminated and truncated separately); it needs gymnasium<1.4, which pip resolves.
set -euo pipefail
PY=${PYTHON:-python3}
"$PY" -m pip install -q "jax[cpu]==0.10.2" "flax==0.12.8" "optax==0.2.8" "gymnax==1.0.1" "pyyaml>=6" "numpy>=1.26"
