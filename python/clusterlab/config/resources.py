"""Resource requests: one parser for every scheduler, so "16GB" means the same everywhere.

Values are validated here, not quoted later: a backend writes them into batch-script
directives, where shell quoting does not apply, so anything that is not a plain token is
rejected up front with an example of the accepted form.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..common import kinds as registry
from ..common.errors import ResourceError
from ..common.jobdir import LAUNCHERS

_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B?)\s*$", re.IGNORECASE)
_UNITS_MB = {"": 1.0, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 * 1024}
# Partition, account, queue and job names end up in "#SBATCH --x=VALUE" lines.
_NAME_RE = re.compile(r"^[A-Za-z0-9_.,+@:-]{1,128}\Z")
_TIME_RE = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?\Z")
# A SLURM constraint: feature names joined by & | , with *counts, [] and () (no spaces).
_CONSTRAINT_RE = re.compile(r"^[A-Za-z0-9_.:&|,*\[\]()!-]{1,256}\Z")
_GPU_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


def parse_memory(value: str | int) -> int:
    """Memory in MiB. Bare numbers are MiB (SLURM's rule); 1GB = 1024 MiB like sbatch."""
    if isinstance(value, bool):
        raise ResourceError(f"memory={value!r}: give a size such as '512MB' or '16GB'")
    if isinstance(value, int):
        if value <= 0:
            raise ResourceError(f"memory={value!r}: must be positive, e.g. '512MB' or '16GB'")
        return value
    m = _MEMORY_RE.match(str(value))
    if not m:
        raise ResourceError(
            f"memory={value!r} is not a size: use a number with a unit, e.g. '512MB', '16GB'"
        )
    number, unit = float(m.group(1)), m.group(2).upper()
    mb = round(number * _UNITS_MB[unit])
    if mb <= 0:
        raise ResourceError(f"memory={value!r} is less than 1 MB: ask for at least '1MB'")
    return mb


def parse_time(value: str | int) -> int:
    """Wall time in seconds, in SLURM's forms: "30" (minutes), "MM:SS", "H:MM:SS", "D-H[:M[:S]]"."""
    if isinstance(value, bool):
        raise ResourceError(f"time={value!r}: give a duration such as '30' or '1:00:00'")
    if isinstance(value, int):
        if value <= 0:
            raise ResourceError(f"time={value!r}: minutes must be positive, e.g. 30")
        return value * 60
    text = str(value).strip()
    m = _TIME_RE.match(text)
    if not m:
        raise ResourceError(
            f"time={value!r} is not a duration: use minutes ('30'), 'H:MM:SS' ('1:00:00') "
            "or 'D-HH:MM:SS' ('2-00:00:00')"
        )
    days, a, b, c = m.groups()
    nums = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:
        # D-H, D-H:M, D-H:M:S
        h, mi, s = [*nums, 0, 0][:3]
        seconds = int(days) * 86400 + h * 3600 + mi * 60 + s
    elif len(nums) == 1:
        seconds = nums[0] * 60
    elif len(nums) == 2:
        seconds = nums[0] * 60 + nums[1]
    else:
        seconds = nums[0] * 3600 + nums[1] * 60 + nums[2]
    if seconds <= 0:
        raise ResourceError(f"time={value!r} is zero: ask for at least one second ('0:01')")
    return seconds


def format_time(seconds: int) -> str:
    """Seconds as D-HH:MM:SS, which SLURM, PBS and SGE all accept (without the day part)."""
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{days}-{h:02d}:{m:02d}:{s:02d}" if days else f"{h:02d}:{m:02d}:{s:02d}"


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ResourceError(f"{key}={value!r}: must be a whole number, e.g. {key}=4")
    try:
        n = int(value)
    except ValueError:
        raise ResourceError(f"{key}={value!r}: must be a whole number, e.g. {key}=4") from None
    if n < 0 or (n == 0 and key != "gpus"):
        least = 0 if key == "gpus" else 1
        raise ResourceError(f"{key}={value!r}: must be at least {least}, e.g. {key}={least + 3}")
    return n


def _gpus(value: Any) -> tuple[int, str | None]:
    """``2`` or ``"a100:2"`` (a GPU type and a count): ``(count, type or None)``."""
    text = value if isinstance(value, str) else ""
    if ":" not in text:
        if text.strip() and not text.strip().lstrip("-").isdigit():
            kind = text.strip() if _GPU_TYPE_RE.match(text.strip()) else "a100"
            raise ResourceError(
                f"gpus={value!r}: give a count or a type and a count, e.g. gpus=2 or "
                f"gpus='{kind}:1'"
            )
        return _positive_int("gpus", value), None
    kind, _, count = text.rpartition(":")
    example = "e.g. gpus='a100:2' (2 GPUs of type a100) or gpus=2 (any type)"
    if not _GPU_TYPE_RE.match(kind):
        raise ResourceError(
            f"gpus={value!r}: the GPU type is one word of letters, digits, '_', '.' or '-', "
            f"as your cluster names it, {example}"
        )
    if not count.isdigit() or int(count) < 1:
        raise ResourceError(f"gpus={value!r}: ask for at least one GPU of a type, {example}")
    return int(count), kind


def _constraint(value: Any) -> str:
    """Node features such as ``skylake`` or ``"intel&(ib|opa)"``, for ``--constraint``."""
    text = str(value)
    if isinstance(value, bool) or not _CONSTRAINT_RE.match(text) or text.startswith("-"):
        raise ResourceError(
            f"constraint={value!r}: give node feature names joined by & (and) or | (or), "
            "without spaces, e.g. constraint='skylake' or constraint='intel&ib'"
        )
    return text


def _name(key: str, value: Any) -> str:
    """A partition, queue or account: a plain token that cannot be read as an option."""
    text = str(value)
    if isinstance(value, bool) or not _NAME_RE.match(text) or text.startswith("-"):
        raise ResourceError(
            f"{key}={value!r}: use letters, digits and _ . , + @ : - only, not starting "
            f"with '-' (e.g. {key}='normal')"
        )
    return text


# An option: '-x...' or '--name...', then one line of printable text (no line or page
# breaks of any kind, no tabs or escape sequences).
_OPTION_RE = re.compile(r"^--?[A-Za-z0-9]")


def _extra(value: Any) -> tuple[str, ...]:
    """Scheduler options written as given, one ``#SBATCH`` (or ``#PBS``...) line each."""
    example = "e.g. extra=['--qos=high', '--constraint=skylake']"
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ResourceError(f"extra={value!r}: give a list of scheduler options as text, {example}")
    out = []
    for item in items:
        if not isinstance(item, str) or not _OPTION_RE.match(item) or not item.isprintable():
            raise ResourceError(
                f"extra={item!r}: each extra directive is one scheduler option on one line "
                f"of printable text starting with '-' or '--' and a letter, {example}"
            )
        out.append(item)
    return tuple(out)


@dataclass(frozen=True)
class Resources:
    """A validated request. ``None`` means "the scheduler's default"."""

    cores: int | None = None
    memory_mb: int | None = None
    time_s: int | None = None
    gpus: int | None = None
    gpu_type: str | None = None  # set only with gpus: gpus="a100:2"
    nodes: int | None = None
    tasks: int | None = None
    tasks_per_node: int | None = None
    launcher: str | None = None  # how the tasks start: LAUNCHERS; None is "auto"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    extra: tuple[str, ...] = field(default_factory=tuple)

    def merged(self, other: Resources) -> Resources:
        """``other``'s set values win: profile defaults < decorator < per-call options.
        A GPU request is one value: ``gpus=2`` over ``gpus="a100:1"`` drops the type."""
        updates = {
            f.name: getattr(other, f.name)
            for f in fields(other)
            if getattr(other, f.name) not in (None, ())
        }
        if other.gpus is not None:
            updates["gpu_type"] = other.gpu_type
        return replace(self, **updates)

    @property
    def task_count(self) -> int:
        """Tasks in the job's allocation: ``tasks``, else ``tasks_per_node`` on each node,
        else one per node, else one."""
        if self.tasks:
            return self.tasks
        if self.tasks_per_node:
            return self.tasks_per_node * (self.nodes or 1)
        return self.nodes or 1

    def needs(self) -> dict[str, str]:
        """The scheduler features (``clusterlab.common.kinds``) this request
        needs, each with the resource that asks for it, so a scheduler that lacks one
        refuses it by name."""
        out: dict[str, str] = {}
        if self.qos:
            out[registry.QOS] = f"qos={self.qos!r}"
        if self.constraint:
            out[registry.CONSTRAINT] = f"constraint={self.constraint!r}"
        if self.gpu_type:
            out[registry.GPU_TYPES] = f"gpus='{self.gpu_type}:{self.gpus}'"
        if (self.nodes or 1) > 1:
            out[registry.NODES] = f"nodes={self.nodes}"
        if self.task_count > 1:
            asked = f"tasks={self.tasks}" if self.tasks else f"tasks_per_node={self.tasks_per_node}"
            out[registry.TASKS] = asked
        return out

    def to_dict(self) -> dict[str, Any]:
        """The user-facing form (``memory='16384MB'``), for ledgers, forms and repr."""
        out: dict[str, Any] = {}
        for key, value in (
            ("cores", self.cores),
            ("memory", f"{self.memory_mb}MB" if self.memory_mb else None),
            ("time", format_time(self.time_s) if self.time_s else None),
            ("gpus", f"{self.gpu_type}:{self.gpus}" if self.gpu_type else self.gpus),
            ("nodes", self.nodes),
            ("tasks", self.tasks),
            ("tasks_per_node", self.tasks_per_node),
            ("launcher", self.launcher),
            ("partition", self.partition),
            ("account", self.account),
            ("qos", self.qos),
            ("constraint", self.constraint),
            ("extra", list(self.extra) if self.extra else None),
        ):
            if value is not None:
                out[key] = value
        return out


def _launcher(value: Any) -> str:
    if not isinstance(value, str) or value not in LAUNCHERS:
        raise ResourceError(
            f"launcher={value!r}: use one of {', '.join(map(repr, LAUNCHERS))} ('auto', the "
            "default, starts the tasks the scheduler's way; 'none' runs your function once "
            "and lets it start its own, e.g. with torchrun)"
        )
    return value


# key -> (parser, Resources field or fields). "queue" is PBS/SGE's word for a partition.
_PARSERS: dict[str, tuple[Any, str | tuple[str, ...]]] = {
    "cores": (lambda v: _positive_int("cores", v), "cores"),
    "memory": (parse_memory, "memory_mb"),
    "time": (parse_time, "time_s"),
    "gpus": (_gpus, ("gpus", "gpu_type")),
    "nodes": (lambda v: _positive_int("nodes", v), "nodes"),
    "tasks": (lambda v: _positive_int("tasks", v), "tasks"),
    "tasks_per_node": (lambda v: _positive_int("tasks_per_node", v), "tasks_per_node"),
    "launcher": (lambda v: _launcher(v), "launcher"),
    "partition": (lambda v: _name("partition", v), "partition"),
    "queue": (lambda v: _name("queue", v), "partition"),
    "account": (lambda v: _name("account", v), "account"),
    "qos": (lambda v: _name("qos", v), "qos"),
    "constraint": (_constraint, "constraint"),
    "extra": (_extra, "extra"),
}
RESOURCE_KEYS: tuple[str, ...] = tuple(_PARSERS)


# A comma ends a pair where a name and '=' follow ("cores=4, memory=8GB"); a line break
# always does. Inside an extra option only a resource's name does, so options keep their
# own commas ("extra=--gres=gpu:1,mps:10", "extra=-l walltime=1:00:00,mem=3gb").
_PAIR_END = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*\s*=)")
_LISTS = ("extra",)  # keys that may be given several times, one item each


def _pieces(text: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        for piece in _PAIR_END.split(line):
            key = piece.partition("=")[0].strip()
            if out and out[-1].partition("=")[0].strip() in _LISTS and key not in _PARSERS:
                out[-1] += "," + piece
            else:
                out.append(piece)
    return out


def _item_list(value: str) -> list[Any]:
    """An extra value: one option, or a list written as Python (``['--a', '--b']``)."""
    if value.startswith("["):
        try:
            items = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return [value]  # the parser's sentence explains it
        return list(items) if isinstance(items, list | tuple) else [value]
    return [value]


def parse_pairs(texts: str | list[str]) -> dict[str, Any]:
    """``"cores=4, memory=8GB"`` (one or more such strings or lines) as a dict, for forms
    and the CLI; whole numbers become ints. ``extra`` may be given once per option and is
    always a list; any other key given twice is refused. Validation is
    :func:`parse_resources`'s job."""
    out: dict[str, Any] = {}
    for text in [texts] if isinstance(texts, str) else texts:
        for pair in _pieces(text):
            if not pair.strip():
                continue
            key, sep, value = pair.partition("=")
            key, value = key.strip(), value.strip()
            if not sep:
                raise ResourceError(f"{pair.strip()!r}: write KEY=VALUE, e.g. cores=4")
            if key in _LISTS:
                out.setdefault(key, []).extend(_item_list(value))
                continue
            if key in out:
                raise ResourceError(
                    f"{key} is given twice ({out[key]}, then {value}): give each resource "
                    "once, e.g. cores=4 (only extra may repeat, one option each)"
                )
            out[key] = int(value) if value.isdigit() else value
    return out


def parse_resources(values: Mapping[str, Any] | None) -> Resources:
    """Validate a user's dict; unknown keys are rejected with the list of valid ones."""
    values = dict(values or {})
    unknown = sorted(set(values) - set(_PARSERS), key=str)
    if unknown:
        raise ResourceError(
            f"unknown resource {', '.join(map(repr, unknown))}; valid resources are: "
            f"{', '.join(RESOURCE_KEYS)} (use extra=['--option=value'] for anything else)"
        )
    parsed: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        parser, attr = _PARSERS[key]
        if isinstance(attr, tuple):
            parsed.update(zip(attr, parser(value), strict=True))
        else:
            parsed[attr] = parser(value)
    resources = Resources(**parsed)
    check_layout(resources)
    return resources


def check_layout(resources: Resources) -> None:
    """Every node of a job runs at least one of its tasks (checked on each request and
    again on the merged one, since nodes and tasks may come from different levels)."""
    if resources.tasks and resources.nodes and resources.tasks < resources.nodes:
        raise ResourceError(
            f"tasks={resources.tasks} on nodes={resources.nodes}: every node needs at least "
            f"one task; ask for tasks={resources.nodes} or more, or leave tasks out (one per "
            "node)"
        )
    per_node = resources.tasks_per_node
    if per_node and resources.tasks and resources.tasks != per_node * (resources.nodes or 1):
        raise ResourceError(
            f"tasks={resources.tasks} with tasks_per_node={per_node} on "
            f"nodes={resources.nodes or 1}: the two disagree; give tasks= alone, or "
            f"tasks_per_node= with nodes= (tasks={per_node * (resources.nodes or 1)})"
        )


def refuse_unsupported(resources: Resources, scheduler: str) -> None:
    """Refuse, before anything is staged, what the scheduler cannot do, with the sentence
    its registry entry gives (what it lacks and what to ask for instead)."""
    check_layout(resources)
    kind = registry.get(scheduler)
    for feature, asked in resources.needs().items():
        if feature not in kind.features and feature not in kind.ignores:
            why = kind.refusals.get(feature, f"it has no {feature}: remove it from the request")
            raise ResourceError(f"the {kind.name!r} scheduler cannot take {asked}: {why}")
