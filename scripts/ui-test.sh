#!/usr/bin/env bash
# Browser tests of the Clusters sidebar: Galata (Playwright) drives a real JupyterLab in
# Debian's Chromium against the real SLURM + sshd sandbox. Idempotent; installs what it
# needs (chromium with apt, Node deps with jlpm) and never downloads a browser.
#   scripts/ui-test.sh [playwright args...]     e.g. scripts/ui-test.sh -g tooltip
# UPDATE_SCREENSHOTS=1 (make screenshots) writes the docs' screenshots to docs/images/;
# otherwise they go to the temp dir with the other results.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-.venv}
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 YARN_ENABLE_TELEMETRY=0

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ui-test: installing Debian's chromium with apt"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "ui-test: /usr/bin/chromium is missing (apt-get install chromium)" >&2
    exit 1
  fi
fi

# The extension, built and linked into the venv (installs Node and JupyterLab if missing).
scripts/labext.sh
export PATH="$ROOT/$VENV/bin:$PATH"

stamp=ui-tests/node_modules/.clusterlab-installed
digest=$(cat ui-tests/package.json ui-tests/yarn.lock | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "ui-test: jlpm install in ui-tests/"
  (cd ui-tests && jlpm install)
  digest=$(cat ui-tests/package.json ui-tests/yarn.lock | sha256sum | cut -c1-16)
  echo "$digest" > "$stamp"
fi

# Everything the server, kernels and browser write goes under one temp dir.
TMP_ROOT=$(mktemp -d /tmp/clusterlab-ui.XXXXXX)
cleanup() { rm -rf "$TMP_ROOT"; }
trap cleanup EXIT
mkdir -p "$TMP_ROOT"/{config,data,runtime,ipython,tmp,root,cl-config,cl-data,yarn}

"$VENV/bin/python" tests/cluster/sandbox.py up > "$TMP_ROOT/sandbox.json"
SLURM_CONF=$("$VENV/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['slurm_conf'])" "$TMP_ROOT/sandbox.json")

export CLUSTERLAB_SANDBOX_JSON="$TMP_ROOT/sandbox.json"
export SLURM_CONF
export JUPYTER_CONFIG_DIR="$TMP_ROOT/config"
export JUPYTER_DATA_DIR="$TMP_ROOT/data"
export JUPYTER_RUNTIME_DIR="$TMP_ROOT/runtime"
export JUPYTERLAB_GALATA_ROOT_DIR="$TMP_ROOT/root"
export IPYTHONDIR="$TMP_ROOT/ipython"
export TMPDIR="$TMP_ROOT/tmp"
export YARN_GLOBAL_FOLDER="$TMP_ROOT/yarn"
export CLUSTERLAB_CONFIG_DIR="$TMP_ROOT/cl-config"
export CLUSTERLAB_DATA_DIR="$TMP_ROOT/cl-data"
if [ "${UPDATE_SCREENSHOTS:-0}" = 1 ]; then
  export CLUSTERLAB_DOCS_IMAGES="$ROOT/docs/images"
else
  export CLUSTERLAB_DOCS_IMAGES="$TMP_ROOT/images"
fi
export CLUSTERLAB_UI_RESULTS="$TMP_ROOT/test-results"
export CLUSTERLAB_UI_SERVER_LOG="$TMP_ROOT/jupyter-server.log"
mkdir -p "$CLUSTERLAB_DOCS_IMAGES"

cd ui-tests
start=$(date +%s)
status=0
jlpm playwright test "$@" || status=$?
echo "ui-test: finished in $(( $(date +%s) - start )) s (exit $status)"
if [ "$status" != 0 ] && [ -d "$CLUSTERLAB_UI_RESULTS" ]; then
  rm -rf test-results && cp -r "$CLUSTERLAB_UI_RESULTS" test-results
  cp "$CLUSTERLAB_UI_SERVER_LOG" test-results/ 2>/dev/null || true
  echo "ui-test: failure screenshots and the server log in ui-tests/test-results/"
fi
# What the specs measured (walkthrough.timing.json, ...) outlives the temp dir.
if compgen -G "$CLUSTERLAB_UI_RESULTS/*.timing.json" >/dev/null; then
  mkdir -p test-results && cp "$CLUSTERLAB_UI_RESULTS"/*.timing.json test-results/
  echo "ui-test: timings in ui-tests/test-results/*.timing.json"
fi
exit "$status"
