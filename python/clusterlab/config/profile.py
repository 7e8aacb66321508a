"""Profiles: a named cluster configuration, validated field by field.

The dataclass fields and their ``metadata`` *are* the profile schema (type, default, the
scheduler kinds a field applies to, label, tooltip, example). The ipywidgets form, the lab
panel (over the comm), the CLI prompts and the docs table all read :func:`schema`, so a
field is added in exactly one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..common import kinds as registry
from ..common.errors import ProfileError
from . import container_fields, login_fields, resultlimit, validators
from .fieldmeta import fields_table, with_kind_fields
from .fieldmeta import meta as _meta

SCHEDULER_KINDS = registry.names()
"""Schedulers a profile may name, from the ``clusterlab.schedulers`` entry points."""
REMOTE_KINDS = registry.remote_names()
"""Kinds that may run on another machine (over SSH) and so use the SSH fields."""

if TYPE_CHECKING:  # the checker sees the declared fields; kinds' fields read as Any
    from dataclasses import dataclass as _profile_dataclass
else:  # the registered kinds' fields join before max_concurrent
    _profile_dataclass = with_kind_fields(before="max_concurrent")


_HOSTLESS = tuple(k for k in SCHEDULER_KINDS if k not in REMOTE_KINDS)


def _quoted(names: tuple[str, ...]) -> str:
    return " and ".join(f"'{n}'" for n in names)


def _scheduler_help() -> str:
    """The Scheduler field's tooltip, from the registry: every kind, as people say it."""
    choices = ", ".join(f"'{k.name}' for {k.label}" for k in registry.kinds().values())
    return f"The batch system that runs jobs: {choices}. Your cluster's documentation names it."


@_profile_dataclass
class Profile:
    """A named cluster: where jobs go, how to reach it, and default resources.

    Construction validates every field and raises :class:`ProfileError` naming the first bad
    field (``.errors`` holds all of them), so an invalid profile never reaches the store.
    Passwords and passphrases are never fields: keys come from files or ssh-agent.
    """

    name: str = field(
        default="local",
        metadata=_meta(
            "Name",
            "A short name you pick for this cluster; you pass it to @cluster('NAME') and "
            "%%cluster NAME.",
            "hpc",
            check=validators.check_name,
        ),
    )
    scheduler: str = field(
        default="local",
        metadata=_meta(
            "Scheduler",
            _scheduler_help(),
            (REMOTE_KINDS or SCHEDULER_KINDS)[0],
            check=validators.check_scheduler,
            widget="choice",
            choices=SCHEDULER_KINDS,
        ),
    )
    host: str = field(
        default="",
        metadata=_meta(
            "Login host",
            "The machine you ssh into to submit jobs (the login node). Leave empty when "
            "JupyterLab already runs on the login node (e.g. Open OnDemand). A Host alias "
            "from ~/.ssh/config works too.",
            "login.example.edu",
            kinds=REMOTE_KINDS,
            check=validators.check_host,
        ),
    )
    user: str = field(
        default="",
        metadata=_meta(
            "User name",
            "Your login name on the cluster. Empty means the User from ~/.ssh/config, else "
            "your local user name.",
            "jdoe",
            kinds=REMOTE_KINDS,
            check=validators.check_user,
        ),
    )
    port: int = field(
        default=22,
        metadata=_meta(
            "SSH port",
            "The SSH port of the login host; almost always 22.",
            "22",
            kinds=REMOTE_KINDS,
            check=validators.check_port,
            widget="int",
        ),
    )
    key_file: str = field(
        default="",
        metadata=_meta(
            "SSH key file",
            "Path of your private key (e.g. ~/.ssh/id_ed25519). Empty means ssh-agent and the "
            "IdentityFile from ~/.ssh/config. The key never leaves this machine and its "
            "passphrase is never stored; load passphrase-protected keys into ssh-agent.",
            "~/.ssh/id_ed25519",
            kinds=REMOTE_KINDS,
            check=validators.check_key_file,
        ),
    )
    known_hosts: str = field(
        default="~/.ssh/known_hosts",
        metadata=_meta(
            "Known hosts file",
            "Where trusted host keys are kept. clusterlab refuses hosts whose key is not in "
            "this file (protection against man-in-the-middle attacks): connect once with "
            "'ssh HOST' and compare the fingerprint with your cluster's documentation.",
            "~/.ssh/known_hosts",
            kinds=REMOTE_KINDS,
            check=validators.check_known_hosts,
        ),
    )
    trust_on_first_use: bool = field(
        default=False,
        metadata=_meta(
            "Trust new host key",
            "Accept and remember the host key the first time we connect (like answering "
            "'yes' to ssh). Only for hosts on a network you trust; a key that later changes "
            "is always refused.",
            "false",
            kinds=REMOTE_KINDS,
            check=validators.check_bool,
            widget="bool",
        ),
    )
    ssh_config: str = field(
        default="~/.ssh/config",
        metadata=_meta(
            "SSH config file",
            "OpenSSH client config for this host: with the ssh client all of it applies "
            "(Match, Include, ProxyCommand, certificates...); with paramiko HostName, User, "
            "Port, IdentityFile, CertificateFile, IdentitiesOnly, ProxyJump, ProxyCommand, "
            "ConnectTimeout and ServerAliveInterval (the check names any other option).",
            "~/.ssh/config",
            kinds=REMOTE_KINDS,
            check=validators.check_ssh_config,
        ),
    )
    # -- logging in: prompts, the shared login, the SSH client (config/login_fields.py) --
    askpass: str = login_fields.askpass()
    persist: int = login_fields.persist()
    ssh_client: str = login_fields.ssh_client()
    remote_dir: str = field(
        default="",
        metadata=_meta(
            "Job directory",
            "Where job files (payload, logs, results) are kept on the cluster; must be on a "
            "file system the compute nodes see (home or scratch). Created with mode 0700. "
            "An absolute path or one starting with ~/. Empty means ~/.clusterlab, or "
            f"clusterlab's data dir for {_quoted(_HOSTLESS)}, which take no login host (a "
            "container scheduler's pods get an empty volume at that path, and results come "
            "back through their logs).",
            "~/.clusterlab",
            check=validators.check_remote_dir,
        ),
    )
    python: str = field(
        default="",
        metadata=_meta(
            "Python command",
            "The Python that runs your functions on the cluster; it needs cloudpickle "
            "(pip install cloudpickle) and should match your notebook's Python minor "
            "version. Empty means this kernel's Python when jobs start from this machine "
            "(no login host), 'python3' over SSH and in a container image. A conda, mamba, "
            "micromamba or pixi environment: 'conda:NAME' or 'conda:/path/to/prefix' "
            "(run through the tool's own `run`, which activates it).",
            "~/venv/bin/python",
            check=validators.check_python,
        ),
    )
    setup: list[str] = field(
        default_factory=list,
        metadata=_meta(
            "Setup lines",
            "Shell lines run before Python in every job, e.g. 'module load python/3.11' or "
            "'source ~/venv/bin/activate'. They run as written: only put your own commands here.",
            "module load python/3.11",
            check=validators.check_setup,
            widget="lines",
        ),
    )
    # -- where and with what the job's code runs (issue 13) ---------------------------------
    env: dict[str, str] = field(
        default_factory=dict,
        metadata=_meta(
            "Environment variables",
            "Variables set for every job, one NAME=value per line, e.g. OMP_NUM_THREADS=4. "
            "Names are letters, digits and '_'; values are one line of text, passed as data "
            "(quoted, never run as shell code). A call adds to them with "
            ".options(env={...}) or %%cluster --env NAME=VALUE.",
            "OMP_NUM_THREADS=4",
            check=validators.check_env,
            widget="env",
        ),
    )
    workdir: str = field(
        default="",
        metadata=_meta(
            "Working directory",
            "Where your function runs on the cluster (its current directory), e.g. a "
            "project dir on the shared file system: relative paths and files= uploads land "
            "there. An absolute path or one starting with ~/; created if missing. Empty "
            "means a fresh work/ dir inside each job's directory.",
            "~/project",
            check=validators.check_workdir,
        ),
    )
    environment: str = field(
        default="existing",
        metadata=_meta(
            "Python environment",
            "'existing': jobs use the cluster's Python as the Python command and setup lines "
            "give it (install what your code imports there). 'sync': clusterlab builds, "
            "once per set of package versions, a cached environment on the cluster with "
            "the versions this kernel uses (from the cluster's package index, or from "
            "wheels uploaded from here when compute nodes have no internet).",
            "existing",
            check=validators.check_environment,
            widget="choice",
            choices=validators.ENVIRONMENTS,
        ),
    )
    # -- a container around the job's Python (config/container_fields.py) ------------------
    container: str = container_fields.container()
    container_engine: str = container_fields.container_engine()
    resources: dict[str, Any] = field(
        default_factory=dict,
        metadata=_meta(
            "Default resources",
            "Requested for every job unless a decorator or call overrides them: cores (per "
            "task), memory ('8GB', per node), time ('1:00:00'), gpus (2, or 'a100:2' for a "
            "type), nodes, tasks (the job's code starts them, e.g. with mpiexec; it runs "
            "once), partition (or queue), account, qos, constraint (node features such as "
            "'skylake'), and extra for any other scheduler option, one per item "
            "(['--exclusive', '--mail-type=END']; write extra= once per option in a form "
            "or the CLI).",
            "{cores = 4, memory = '8GB', time = '1:00:00', partition = 'normal'}",
            check=validators.check_resources,
            widget="resources",
        ),
    )
    # -- here the registered scheduler kinds' own fields join (with_kind_fields) ----------
    max_concurrent: int = field(
        default=0,
        metadata=_meta(
            "Jobs at once",
            "Most jobs of this profile running at the same time on the machine that runs "
            "them (this one, or the host of a scheduler clusterlab queues jobs on itself); "
            "0 means one per CPU core.",
            "4",
            kinds=registry.self_queued_names(),
            check=validators.check_non_negative,
            widget="int",
        ),
    )
    result_limit: str = resultlimit.result_limit()
    poll_interval: float = field(
        default=5.0,
        metadata=_meta(
            "Longest poll interval (s)",
            "Job status is checked often right after a submission and then less often, up "
            "to this many seconds; a larger value is gentler on a busy scheduler.",
            "5",
            check=validators.check_interval,
            widget="float",
        ),
    )

    def __post_init__(self) -> None:
        errors: dict[str, str] = {}
        for f in dataclasses.fields(self):
            check = f.metadata["check"]
            value = getattr(self, f.name)
            try:
                setattr(self, f.name, check(value))
            except ValueError as exc:
                errors[f.name] = str(exc)
            except (TypeError, OverflowError):
                # a type no validator foresaw is still this field's error, not a crash
                errors[f.name] = (
                    f"{value!r:.40} is not a usable value: give something like "
                    f"{f.metadata['example']!r}"
                )
        if self.host and self.scheduler not in REMOTE_KINDS and "host" not in errors:
            errors["host"] = f"a '{self.scheduler}' profile runs on this machine: leave host empty"
        if not {"resources", "scheduler"} & set(errors):
            problem = validators.resources_problem(self.resources, self.scheduler)
            if problem:
                errors["resources"] = problem
        if "scheduler" not in errors:
            check_kind = registry.get(self.scheduler).check_profile
            if check_kind is not None:
                check_kind(self, errors)
        if self.trust_on_first_use and "known_hosts" not in errors:
            problem = validators.remembering_file_problem(self.known_hosts)
            if problem:
                errors["known_hosts"] = (
                    f"trust_on_first_use needs a known_hosts file that remembers keys, and "
                    f"{self.known_hosts!r} {problem}: every host key, even a changed one, would "
                    "be accepted. Use a file such as '~/.ssh/known_hosts'."
                )
        if errors:
            first = next(iter(errors))
            raise ProfileError(first, errors[first], errors)

    @property
    def is_remote(self) -> bool:
        """True when jobs are submitted over SSH rather than on this machine."""
        return bool(self.host) and self.scheduler in REMOTE_KINDS

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that differ from their defaults, so stored files stay short."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            )
            if f.name in ("name", "scheduler") or value != default:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Build from stored or user data, rejecting unknown keys with the valid ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ProfileError(
                unknown[0],
                f"unknown profile field; valid fields are: {', '.join(sorted(known))}",
            )
        return cls(**dict(data))

    def _repr_html_(self) -> str:
        return fields_table(self.to_dict())

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            """A registered scheduler kind's field (pbs_flavor, image, ...)."""

    def replace(self, **changes: Any) -> Profile:
        """A validated copy with some fields changed (profiles are edited by copying)."""
        return Profile.from_dict({**self.to_dict(), **changes})


def schema() -> list[dict[str, Any]]:
    """The field schema as plain JSON-able dicts, for forms, the comm and the docs."""
    out = []
    for f in dataclasses.fields(Profile):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        meta = f.metadata
        out.append(
            {
                "name": f.name,
                "type": meta["widget"],
                "default": default,
                "label": meta["label"],
                "tooltip": meta["tooltip"],
                "example": meta["example"],
                "kinds": list(meta["kinds"]),
                "choices": list(meta["choices"]) if meta["choices"] else None,
            }
        )
    return out


def new_profile_values() -> dict[str, Any]:
    """What a form's "New profile" starts from: every field's default and no name. The lab
    panel builds the same from :func:`schema` (``newProfileValues``), so both forms agree."""
    values = {spec["name"]: spec["default"] for spec in schema()}
    values["name"] = ""
    return values


LOCAL = Profile(name="local", scheduler="local")
"""The built-in profile: jobs run as processes on this machine. Always exists."""
