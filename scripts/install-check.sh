#!/usr/bin/env bash
# What a user gets from `pip install clusterlab`: the wheel (with the lab extension built
# by scripts/labext.sh) installed into a brand-new venv, then the notebook widgets, the
# magics, the CLI and the JupyterLab extension are used from it. Run by `make test` after
# ui-test (which builds the extension); needs the package registry for the dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -f python/clusterlab/labextension/package.json ]; then
  echo "install-check: build the lab extension first (scripts/labext.sh)" >&2
  exit 1
fi
TMP=$(mktemp -d /tmp/clusterlab-install.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# The extension is already built: the wheel only packs it.
SKIP_JUPYTER_BUILDER=1 "$PYTHON" -m pip wheel -q --no-deps -w "$TMP/dist" .
"$PYTHON" -m venv "$TMP/venv"
"$TMP/venv/bin/python" -m pip install -q --disable-pip-version-check "$TMP"/dist/clusterlab-*.whl \
  2> >(grep -v "^WARNING: Location .* is ignored" >&2)
cd "$TMP"  # not the checkout: what is imported is the installed wheel
export JUPYTER_CONFIG_DIR="$TMP/jconfig" JUPYTER_DATA_DIR="$TMP/jdata" \
  CLUSTERLAB_CONFIG_DIR="$TMP/config" CLUSTERLAB_DATA_DIR="$TMP/data"
"$TMP/venv/bin/python" - <<'PY'
import clusterlab as cl
import IPython, ipykernel, ipywidgets, jupyterlab  # noqa: F401 - what the design card names

assert cl.__file__.startswith(__import__("sys").prefix), cl.__file__
monitor = cl.monitor()  # the widgets work right after `pip install clusterlab`
assert isinstance(monitor.widget, ipywidgets.Widget), type(monitor.widget)
assert "application/vnd.jupyter.widget-view+json" in monitor._repr_mimebundle_()
monitor.close()
assert cl.cluster("local")(lambda x: x + 1)(41) == 42
print("install-check: widgets, a local job and the imports work from the wheel")
PY
"$TMP/venv/bin/clusterlab" profile list >/dev/null
listing=$("$TMP/venv/bin/jupyter" labextension list 2>&1 | sed 's/\x1b\[[0-9;]*m//g')
if ! grep -Eq "clusterlab v[^ ]+ enabled.*OK" <<<"$listing"; then
  echo "install-check: the wheel's JupyterLab extension is not enabled:" >&2
  echo "$listing" >&2
  exit 1
fi
echo "install-check: jupyter labextension list shows clusterlab enabled and OK"
