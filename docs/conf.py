"""Sphinx configuration for the clusterlab documentation.

Build (as CI does): python3 -m sphinx -W --keep-going -n -b html docs docs/_build/html
No network is used at build time (no intersphinx).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
# Prefer the checkout's package when it is not installed (editable installs need nothing).
sys.path.insert(1, str(HERE.parent / "python"))

import clusterlab  # noqa: E402

project = "clusterlab"
author = "clusterlab developers"
copyright = "clusterlab developers"
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
autodoc_inherit_docstrings = False  # Executor.submit would inherit RST-invalid text

# -n (nitpicky) is on in CI: every cross-reference must resolve. Without intersphinx
# (no network at build time) the standard library and third-party packages have no
# targets, so their names are ignored here; clusterlab's own names must all resolve.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(collections\.abc|typing|pathlib|concurrent\.futures|asyncio|enum|datetime)\..*"),
    (r"py:.*", r"paramiko(\..*)?"),
    # The generic parameters of ClusterFunction[P, R].
    (r"py:.*", r"(clusterlab\.api\.|typing\.~?)?(P|R)(\.args|\.kwargs)?"),
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


def _fix_signature(app, what, name, obj, options, signature, return_annotation):
    """Hide the constructors of Job and JobState; show dataclass default factories.

    Users never construct a Job or a JobState. A dataclass field with a default factory
    appears as ``= <factory>``, which is not Python, so Sphinx cannot parse the
    signature; ``[]``/``{}``/``()`` is what the user actually gets.
    """
    if what == "class" and name in ("clusterlab.Job", "clusterlab.JobState"):
        return "", None
    if what == "class" and signature and "<factory>" in signature and dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.default_factory is not dataclasses.MISSING:
                signature = signature.replace("<factory>", repr(f.default_factory()), 1)
        return signature, return_annotation
    return None


def setup(app):
    app.connect("autodoc-process-signature", _fix_signature)
