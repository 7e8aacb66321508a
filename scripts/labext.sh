#!/usr/bin/env bash
# Build the JupyterLab extension from labextension/ and link it into the venv, the way
# `jupyter labextension develop` would (the editable install has no copy of it).
# Idempotent and incremental: installs Node (apt) and JupyterLab (pip) only when missing,
# runs `jlpm install` only when package.json/yarn.lock changed and rebuilds only when a
# source is newer than the built extension.
#   scripts/labext.sh            build (development) + link
#   scripts/labext.sh prod       production build + link
#   scripts/labext.sh deps       only Node and the node_modules (for lint and unit tests)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
MODE=${1:-dev}
ROOT=$PWD
OUT=python/clusterlab/labextension

if ! command -v node >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "labext: installing nodejs with apt"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null
    # npm is not needed (jlpm is yarn, run by node); Debian splits it out, NodeSource's
    # nodejs bundles it and conflicts with Debian's npm package.
    command -v npm >/dev/null 2>&1 ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null 2>&1 || true
  else
    echo "labext: Node.js is needed to build the lab extension (apt-get install nodejs)" >&2
    exit 1
  fi
fi
# The builder (rspack 2) and vite need Node ^20.19 or >= 22.12.
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)||(a===20&&b>=19)?0:1)'; then
  echo "labext: Node $(node --version) is too old: the extension build needs ^20.19 or >= 22.12" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "labext: no virtualenv at $VENV; run 'make install-dev' first" >&2
  exit 1
fi
if ! "$VENV/bin/python" -c "import jupyterlab, jupyter_builder" >/dev/null 2>&1; then
  echo "labext: installing JupyterLab and jupyter-builder into $VENV"
  "$VENV/bin/python" -m pip install -q 'jupyterlab>=4.6,<5' 'jupyter-builder>=1.2,<2'
fi
export PATH="$ROOT/$VENV/bin:$PATH"
export YARN_ENABLE_TELEMETRY=0

stamp=node_modules/.clusterlab-installed
digest=$(cat package.json yarn.lock .yarnrc.yml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "labext: jlpm install"
  jlpm install
  digest=$(cat package.json yarn.lock .yarnrc.yml | sha256sum | cut -c1-16)
  echo "$digest" > "$stamp"
fi

if [ "$MODE" = deps ]; then
  exit 0
fi

built="$OUT/package.json"
# (A reinstall of an old copy-based editable install can delete files through the link.)
if ! ls "$OUT"/static/remoteEntry.*.js >/dev/null 2>&1; then rm -f "$built"; fi
if [ ! -f "$built" ] || [ -n "$(find labextension/src labextension/style labextension/schema package.json tsconfig.json -newer "$built" -print -quit)" ]; then
  echo "labext: building the extension ($MODE)"
  if [ "$MODE" = prod ]; then jlpm build:prod; else jlpm build; fi
  touch "$built"
fi

dest="$VENV/share/jupyter/labextensions/clusterlab"
mkdir -p "$(dirname "$dest")"
if [ -e "$dest" ] && [ ! -L "$dest" ]; then rm -rf "$dest"; fi
ln -sfn "$ROOT/$OUT" "$dest"
echo "labext: $dest -> $OUT"
