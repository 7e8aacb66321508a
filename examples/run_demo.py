"""`make demo`: start the SLURM sandbox (when we can) and run the quickstart notebook.

The notebook runs in a real Jupyter kernel (nbclient), first on the built-in ``local``
profile and then on the sandbox's SLURM reached over real SSH. Profiles are written to a
demo config dir so your own profiles are left alone.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def start_sandbox() -> object | None:
    """The sandbox info, or None (with the reason printed) when it cannot run here."""
    if os.geteuid() != 0:
        print("demo: not root, so the SLURM sandbox (apt packages, a test user) cannot be set up;")
        print("demo: running on the 'local' profile only.")
        return None
    sys.path.insert(0, str(ROOT))
    from tests.cluster import sandbox

    try:
        return sandbox.up()
    except Exception as exc:
        print(f"demo: the SLURM sandbox could not start ({exc}); running on 'local' only.")
        return None


def main() -> int:
    info = start_sandbox()
    demo_dir = Path(os.environ.get("CLUSTERLAB_SANDBOX_DIR", "/tmp/clusterlab-sandbox")) / "demo"
    os.environ["CLUSTERLAB_CONFIG_DIR"] = str(demo_dir / "config")
    os.environ["CLUSTERLAB_DATA_DIR"] = str(demo_dir / "data")
    import clusterlab as cl

    names = ["local"]
    if info is not None:
        cl.profiles.save(
            cl.Profile(
                name="sandbox",
                scheduler="slurm",
                host=info.ssh_host,  # type: ignore[attr-defined]
                port=info.ssh_port,  # type: ignore[attr-defined]
                user=info.ssh_user,  # type: ignore[attr-defined]
                key_file=info.ssh_key,  # type: ignore[attr-defined]
                known_hosts=info.known_hosts,  # type: ignore[attr-defined]
                python=info.remote_python,  # type: ignore[attr-defined]
                poll_interval=1.0,
            )
        )
        names.append("sandbox")
    os.environ["CLUSTERLAB_DEMO_PROFILES"] = ",".join(names)

    nb = nbformat.read(HERE / "quickstart.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    ).execute()
    failed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        print("\n>>> " + cell.source.replace("\n", "\n... "))
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                print(output.text, end="")
            elif output.output_type == "error":
                failed = True
                print("\n".join(output.traceback))
            elif "text/plain" in output.get("data", {}):
                print(output["data"]["text/plain"])
    out = demo_dir / "quickstart.executed.ipynb"
    nbformat.write(nb, out)
    print(f"\ndemo: done on {', '.join(names)}; executed notebook saved to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
