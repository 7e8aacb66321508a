"""Sphinx directives that render documentation from the code, so the docs cannot drift.

``profile-fields``
    The profile field table, from :func:`clusterlab.config.profile.schema` (the same source the
    forms and the CLI read). Option ``:kinds: slurm`` keeps the fields of those kinds::

        ```{profile-fields}
        ```

``code-mapping``
    A two-column table from a dict in the code, e.g. SLURM's reason map. ``:group:``
    groups keys by value (for state maps); ``:headers: A, B`` names the columns::

        ```{code-mapping} clusterlab.backends.slurm.REASON_MAP
        :headers: SLURM reason, clusterlab says
        ```

``resource-support``
    What each scheduler does with qos, constraint, GPU types, several nodes and several
    tasks (rendered, accepted without effect, or refused with its sentence), from the
    registry.

``slurm-job-script``
    The batch script the SLURM backend renders for a fixed example job, as a literal
    block, produced by ``SlurmBackend.job_script()`` at build time.
"""

from __future__ import annotations

import importlib
import json
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

COLUMNS = [("Field", 16), ("Type", 9), ("Default", 14), ("Applies to", 10), ("Meaning", 51)]


# The schema's "type" is the form widget; say it in TOML/Python terms for readers.
TYPE_NAMES = {
    "text": "string",
    "choice": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "lines": "list of strings",
    "env": "table",
    "resources": "table",
}


def _default_text(value: Any) -> str:
    if value == "" or value == [] or value == {}:
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _row(cells: list[nodes.Node]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += cell
        row += entry
    return row


def _para(*children: nodes.Node) -> nodes.paragraph:
    para = nodes.paragraph()
    for child in children:
        para += child
    return para


class ProfileFieldsDirective(SphinxDirective):
    """Render ``clusterlab.config.profile.schema()`` as a table."""

    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {"kinds": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        from clusterlab.config import profile as profile_module

        # Rebuild the page when the schema's source changes.
        if profile_module.__file__:
            self.env.note_dependency(profile_module.__file__)
        wanted = set((self.options.get("kinds") or "").replace(",", " ").split())
        fields = [f for f in profile_module.schema() if not wanted or wanted & set(f["kinds"])]

        rows: list[list[nodes.Node]] = []
        for f in fields:
            meaning = nodes.container()
            meaning += _para(nodes.strong(text=f["label"] + "."), nodes.Text(" " + f["tooltip"]))
            if f.get("choices"):
                meaning += _para(
                    nodes.emphasis(text="One of: "), nodes.literal(text=", ".join(f["choices"]))
                )
            if f["example"]:
                meaning += _para(nodes.emphasis(text="Example: "), nodes.literal(text=f["example"]))
            rows.append(
                [
                    _para(nodes.literal(text=f["name"])),
                    _para(nodes.Text(TYPE_NAMES.get(f["type"], f["type"]))),
                    _para(nodes.literal(text=_default_text(f["default"]))),
                    _para(nodes.Text(", ".join(f["kinds"]))),
                    meaning,
                ]
            )
        return [_table([t for t, _ in COLUMNS], [w for _, w in COLUMNS], rows)]


def _table(headers: list[str], widths: list[int], rows: list[list[nodes.Node]]) -> nodes.table:
    table = nodes.table()
    tgroup = nodes.tgroup(cols=len(headers))
    table += tgroup
    for width in widths:
        tgroup += nodes.colspec(colwidth=width)
    thead = nodes.thead()
    thead += _row([_para(nodes.Text(h)) for h in headers])
    tgroup += thead
    tbody = nodes.tbody()
    for cells in rows:
        tbody += _row(cells)
    tgroup += tbody
    return table


def _resolve(dotted: str) -> tuple[Any, str | None]:
    module_name, _, attr = dotted.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, attr), getattr(module, "__file__", None)


class CodeMappingDirective(SphinxDirective):
    """Render a ``dict[str, str | Enum]`` from the code as a table."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {
        "headers": directives.unchanged,
        "group": directives.flag,
    }

    def run(self) -> list[nodes.Node]:
        mapping, source = _resolve(self.arguments[0])
        if source:
            self.env.note_dependency(source)
        headers = [h.strip() for h in self.options.get("headers", "Key, Value").split(",")]
        rows: list[list[nodes.Node]] = []
        if "group" in self.options:
            groups: dict[str, list[str]] = {}
            for key, value in mapping.items():
                groups.setdefault(str(value), []).append(str(key))
            for value, keys in groups.items():
                literals: list[nodes.Node] = []
                for i, key in enumerate(keys):
                    if i:
                        literals.append(nodes.Text(", "))
                    literals.append(nodes.literal(text=key))
                rows.append([_para(nodes.literal(text=value)), _para(*literals)])
        else:
            for key, value in mapping.items():
                rows.append([_para(nodes.literal(text=str(key))), _para(nodes.Text(str(value)))])
        return [_table(headers, [30, 70], rows)]


class SlurmJobScriptDirective(SphinxDirective):
    """The script ``SlurmBackend.job_script()`` renders for an example job."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from clusterlab.backends import base, slurm
        from clusterlab.config.profile import Profile
        from clusterlab.config.resources import parse_resources
        from clusterlab.transports.local import LocalTransport

        for module in (base, slurm):
            if module.__file__:
                self.env.note_dependency(module.__file__)
        profile = Profile(
            name="hpc",
            scheduler="slurm",
            host="login.example.edu",
            python="~/venv/bin/python",
            setup=["module load python/3.11"],
            resources={"partition": "normal", "time": "1:00:00"},
        )
        backend = slurm.SlurmBackend(profile, LocalTransport())
        job_id = "20250101-120000-a1b2c3"
        spec = base.JobSpec(
            job_id=job_id,
            name="train",
            job_dir=f"/home/jdoe/.clusterlab/jobs/{job_id}",
            resources=parse_resources(profile.resources).merged(
                parse_resources({"cores": 8, "memory": "16GB", "time": "00:30:00", "gpus": 1})
            ),
            python=["/home/jdoe/venv/bin/python"],
            setup=list(profile.setup),
        )
        text = backend.job_script(spec)
        block = nodes.literal_block(text, text)
        block["language"] = "bash"
        return [block]


def scheduler_support() -> tuple[list[str], list[list[Any]]]:
    """The scheduler x feature table as text, one row per registered kind (entry points
    of the ``clusterlab.schedulers`` group, third-party ones included)."""
    from clusterlab.common import kinds as registry

    rows: list[list[Any]] = []
    for kind in registry.kinds().values():
        marks = ["yes" if feature in kind.features else "no" for feature in registry.FEATURES]
        rows.append([(kind.name, f" ({kind.label}): {kind.summary}"), *marks])
    return ["scheduler", *registry.FEATURES], rows


class SchedulerSupportDirective(SphinxDirective):
    """The feature x scheduler table, from what the registered kinds declare."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from clusterlab.common import kinds as registry

        if registry.__file__:
            self.env.note_dependency(registry.__file__)
        headers, text_rows = scheduler_support()
        rows: list[list[nodes.Node]] = []
        for (name, what), *marks in text_rows:
            cells: list[nodes.Node] = [_para(nodes.literal(text=name), nodes.Text(what))]
            cells += [_para(nodes.Text(mark)) for mark in marks]
            rows.append(cells)
        return [_table(headers, [40] + [12] * len(registry.FEATURES), rows)]


class ResourceSupportDirective(SphinxDirective):
    """What each scheduler does with the resources only some can honour, from the
    registry: rendered, accepted without effect, or refused with the sentence a user sees."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from clusterlab.common import kinds as registry

        if registry.__file__:
            self.env.note_dependency(registry.__file__)
        kinds = list(registry.kinds().values())
        rows: list[list[nodes.Node]] = []
        for feature in registry.RESOURCE_FEATURES:
            cells: list[nodes.Node] = [_para(nodes.Text(feature))]
            for kind in kinds:
                if feature in kind.features:
                    text = "yes"
                elif feature in kind.ignores:
                    text = "accepted, not enforced"
                else:
                    text = f"refused: {kind.refusals.get(feature, 'not supported')}"
                cells.append(_para(nodes.Text(text)))
            rows.append(cells)
        headers = ["request", *(kind.name for kind in kinds)]
        return [_table(headers, [14] + [28] * len(kinds), rows)]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("scheduler-support", SchedulerSupportDirective)
    app.add_directive("resource-support", ResourceSupportDirective)
    app.add_directive("profile-fields", ProfileFieldsDirective)
    app.add_directive("code-mapping", CodeMappingDirective)
    app.add_directive("slurm-job-script", SlurmJobScriptDirective)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
