"""Sphinx configuration for the clusterlab documentation.

Build (as CI does): python3 -m sphinx -W --keep-going -n -b html docs docs/_build/html
No network is used at build time (no intersphinx).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
# Prefer the checkout's package when it is not installed (editable installs need nothing).
sys.path.insert(1, str(HERE.parent / "python"))

import clusterlab  # noqa: E402

project = "clusterlab"
author = "clusterlab developers"
copyright = "clusterlab developers"  # noqa: A001
release = clusterlab.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "profile_fields",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc ---------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True

# -n (nitpicky) is on in CI. Names below are third-party or typing internals that have no
# target without intersphinx; our own names must all resolve.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(concurrent\.futures|asyncio|collections\.abc|typing|enum|pathlib)\..*"),
    (r"py:.*", r"(paramiko)(\..*)?"),
    (r"py:.*", r"(P|R)(\.args|\.kwargs)?"),
    (r"py:.*", r"(Future|Executor|Path|Callable|Mapping|Sequence|Any|Generic|Enum)"),
]

# -- HTML ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"clusterlab {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False
