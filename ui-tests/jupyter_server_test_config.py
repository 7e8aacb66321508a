"""JupyterLab server for the browser tests (started by Playwright's webServer).

Never use this configuration for a real server: it disables authentication. The
environment (temporary JUPYTER_*/IPYTHONDIR/TMPDIR, CLUSTERLAB_CONFIG_DIR/DATA_DIR and
SLURM_CONF) is set by scripts/ui-test.sh.
"""

import os

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # type: ignore[name-defined] # noqa: F821
configure_jupyter_server(c)

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = int(os.environ.get("CLUSTERLAB_UI_PORT", "18888"))
c.ServerApp.allow_root = True
c.ServerApp.open_browser = False
c.FileContentsManager.delete_to_trash = False
# Kernels the panel starts (and notebooks) use the venv's python3 with clusterlab.
c.MappingKernelManager.default_kernel_name = "python3"
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
