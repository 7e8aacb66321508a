#!/usr/bin/env bash
# Start JupyterLab for a person, with the Clusters sidebar built from this checkout.
# When the SLURM sandbox is up (make sandbox), its SLURM_CONF is passed to the server so
# kernels can submit to it. Extra arguments go to `jupyter lab`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
VENV="$VENV" scripts/labext.sh
SANDBOX_DIR=${CLUSTERLAB_SANDBOX_DIR:-/tmp/clusterlab-sandbox}
if [ -f "$SANDBOX_DIR/sandbox.json" ]; then
  eval "$("$VENV/bin/python" tests/cluster/sandbox.py env)"
  echo "lab: SLURM sandbox found: SLURM_CONF=$SLURM_CONF"
fi
args=(--ip=127.0.0.1 --no-browser)
if [ "$(id -u)" = 0 ]; then args+=(--allow-root); fi
exec "$VENV/bin/jupyter" lab "${args[@]}" "$@"
