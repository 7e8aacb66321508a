"""``clusterlab kernel install|list|remove``: a profile's notebook kernel as a kernelspec."""

from __future__ import annotations

import argparse
from typing import Any

from .. import kernels
from ..kernels.specs import DEFAULT_START_TIMEOUT

# The resources a kernel's job asks for, as flags (validated by config.resources, like
# @cl.cluster's keywords); anything else goes through --extra.
_RESOURCE_FLAGS = (
    ("cores", int, "CPU cores of the kernel's job, e.g. 4"),
    ("memory", str, "memory of the kernel's job, e.g. 16GB"),
    ("time", str, "wall time of the kernel's job, e.g. 2:00:00 (the kernel ends with it)"),
    ("gpus", str, "GPUs of the kernel's job, e.g. 1 or a100:2"),
    ("partition", str, "partition (queue) of the kernel's job"),
    ("account", str, "account the kernel's job is charged to"),
    ("qos", str, "quality of service of the kernel's job"),
    ("constraint", str, "node features the kernel's job needs"),
)


def add_kernel_commands(sub: Any) -> None:
    """Register ``kernel install|list|remove`` on the top-level subparsers."""
    kernel = sub.add_parser("kernel", help="a notebook kernel that runs in a job of a profile")
    ksub = kernel.add_subparsers(dest="action", required=True)
    inst = ksub.add_parser(
        "install", help="make the kernelspec clusterlab-PROFILE (the profile's resources "
        "are the defaults)"
    )  # fmt: skip
    inst.add_argument("profile", metavar="PROFILE")
    inst.add_argument("--name", help="the kernelspec's name (default: clusterlab-PROFILE)")
    for flag, kind, text in _RESOURCE_FLAGS:
        inst.add_argument(f"--{flag}", type=kind, default=None, help=text)
    inst.add_argument(
        "--extra",
        action="append",
        default=None,
        metavar="OPTION",
        help="a scheduler option as is, e.g. --extra=--exclusive (repeatable)",
    )
    inst.add_argument(
        "--start-timeout",
        type=float,
        default=DEFAULT_START_TIMEOUT,
        metavar="SECONDS",
        help="how long a start may wait in the queue before the job is cancelled "
        f"(default {DEFAULT_START_TIMEOUT:g})",
    )
    ksub.add_parser("list", help="the installed clusterlab kernels")
    ksub.add_parser("remove", help="remove a clusterlab kernelspec").add_argument("name")
    kernel.set_defaults(func=cmd_kernel)


def cmd_kernel(args: argparse.Namespace) -> int:
    if args.action == "install":
        resources = {flag: getattr(args, flag) for flag, _, _ in _RESOURCE_FLAGS}
        resources["extra"] = args.extra
        info = kernels.install(
            args.profile, name=args.name, start_timeout=args.start_timeout, **resources
        )
        print(f"installed kernel {info.name!r}: {info.display_name}")
        print(f"  in {info.path}")
        return 0
    if args.action == "remove":
        path = kernels.remove(args.name)
        print(f"removed kernel {args.name!r} ({path})")
        return 0
    found = kernels.list()
    if not found:
        print("no clusterlab kernels are installed: `clusterlab kernel install PROFILE`")
    for info in found:
        print(f"{info.name:<24} {info.profile:<16} {info.display_name}")
    return 0
