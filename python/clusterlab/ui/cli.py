"""The ``clusterlab`` command: profiles and jobs from a terminal.

Profile options and prompts are generated from the profile schema, so the CLI, the forms
and the docs can never disagree about a field. The job commands are in :mod:`.cli_jobs`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from .. import profiles
from ..common.errors import ClusterlabError, ProfileError, ResourceError
from ..config.profile import SCHEDULER_KINDS, Profile, schema
from ..config.resources import parse_pairs
from .cli_cluster import add_cluster_commands
from .cli_jobs import add_job_commands
from .cli_kernel import add_kernel_commands


def _field_value(spec: dict[str, Any], text: str | list[str]) -> Any:
    """Turn command-line text into the field's type; the Profile validates the rest."""
    kind = spec["type"]
    if kind in ("lines", "env"):
        return list(text) if isinstance(text, list) else [text]
    if kind == "resources":
        try:
            return parse_pairs(text)
        except ResourceError as exc:
            raise ProfileError("resources", str(exc)) from None
    return text


def _add_field_options(parser: argparse.ArgumentParser) -> None:
    for spec in schema():
        if spec["name"] == "name":
            continue
        flag = "--" + spec["name"].replace("_", "-")
        repeat = spec["type"] in ("lines", "resources", "env")
        parser.add_argument(
            flag,
            dest=spec["name"],
            default=argparse.SUPPRESS,  # absent from the namespace unless given
            action="append" if repeat else "store",
            metavar="KEY=VALUE" if spec["type"] in ("resources", "env") else spec["type"].upper(),
            help=f"{spec['tooltip']} Example: {spec['example']}",
        )


def _given(args: argparse.Namespace) -> dict[str, Any]:
    fields = {s["name"]: s for s in schema()}
    return {
        name: _field_value(fields[name], value)
        for name, value in vars(args).items()
        if name in fields and name != "name"
    }


def _prompt(profile_fields: dict[str, Any]) -> dict[str, Any]:
    """Ask for every field that applies to the chosen scheduler, showing its tooltip."""
    values = dict(profile_fields)
    specs = schema()
    # Enter takes the profile's own default (as the lab panel's and the widget's new
    # profile do), and the prompt says which one that is.
    default = next(str(s["default"]) for s in specs if s["name"] == "scheduler")
    scheduler = (
        values.get("scheduler")
        or input(f"scheduler ({'/'.join(SCHEDULER_KINDS)}) [{default}]: ").strip()
        or default
    )
    values["scheduler"] = scheduler
    for spec in specs:
        if spec["name"] in ("name", "scheduler") or spec["name"] in values:
            continue
        if scheduler not in spec["kinds"]:
            continue
        print(f"\n{spec['label']}: {spec['tooltip']}")
        answer = input(f"{spec['name']} [{spec['default']}]: ").strip()
        if answer:
            values[spec["name"]] = _field_value(spec, answer)
    return values


def _print_profile(profile: Profile) -> None:
    for key, value in profile.to_dict().items():
        print(f"{key:>20} = {value!r}")


def cmd_profile(args: argparse.Namespace) -> int:
    if args.action == "list":
        for name in profiles.list():
            p = profiles.load(name)
            where = p.host or "this machine"
            print(f"{name:<20} {p.scheduler:<8} {where}")
        return 0
    if args.action == "show":
        if args.script:
            script = profiles.job_script(profiles.require(args.name), args.map, args.max_concurrent)
            print(script, end="")
            print(
                "clusterlab: a preview with the profile's default resources; the job id, "
                "its directory and the function's name are set at submission",
                file=sys.stderr,
            )
            return 0
        _print_profile(profiles.load(args.name))
        return 0
    if args.action == "remove":
        profiles.delete(args.name)
        print(f"removed profile {args.name!r}")
        return 0
    if args.action == "check":
        report = profiles.check(args.name, on_line=lambda line: print(line, flush=True))
        print(f"profile {args.name!r}: {'ready' if report.ok else 'NOT ready'}")
        return 0 if report.ok else 1
    given = _given(args)
    if args.action == "add":
        if args.name in profiles.list() and args.name != "local":
            print(f"profile {args.name!r} exists: use `clusterlab profile edit`", file=sys.stderr)
            return 2
        if args.interactive:
            given = _prompt(given)
        profile = Profile.from_dict({"name": args.name, **given})
    else:  # edit
        profile = profiles.load(args.name).replace(**given)
    saved = profiles.save(profile)
    print(f"saved profile {saved.name!r} to {profiles.path()}")
    _print_profile(saved)
    return 0


# -- jobs -------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterlab", description="Run notebook functions on clusters: profiles and jobs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    prof = sub.add_parser("profile", help="list, show, add, edit, remove or check profiles")
    psub = prof.add_subparsers(dest="action", required=True)
    psub.add_parser("list", help="all profiles, the built-in 'local' first")
    show = psub.add_parser("show", help="print a profile (--script: what a job submits)")
    show.add_argument("name")
    show.add_argument(
        "--script",
        action="store_true",
        help="print the batch script (Kubernetes: the manifest) a job with the profile's "
        "default resources would be submitted with (nothing is submitted, no connection is "
        "made)",
    )
    show.add_argument(
        "--map", type=int, default=0, metavar="N", help="with --script: a map of N tasks"
    )
    show.add_argument("--max-concurrent", type=int, default=0, help="with --map: the throttle")
    for action, text in (
        ("remove", "delete a profile"),
        ("check", "connect and check scheduler, job dir, Python, packages"),
    ):
        named = psub.add_parser(action, help=text)
        named.add_argument("name")
    for action, text in (("add", "create a profile"), ("edit", "change fields of a profile")):
        p = psub.add_parser(action, help=text)
        p.add_argument("name")
        if action == "add":
            p.add_argument("-i", "--interactive", action="store_true", help="prompt for each field")
        _add_field_options(p)
    prof.set_defaults(func=cmd_profile)
    out = sub.add_parser(
        "logout", help="end a profile's shared login (every notebook and the CLI ask again)"
    )
    out.add_argument("name")
    out.set_defaults(func=cmd_logout)
    env = sub.add_parser("env", help="list or remove synced environments (environment='sync')")
    esub = env.add_subparsers(dest="action", required=True)
    esub.add_parser("list", help="the synced environments on a profile's cluster")
    esub.add_parser("remove", help="delete one (it is built again when needed)").add_argument(
        "hash"
    )
    env.add_argument("--profile", metavar="P", help="the profile (default: the session's)")
    env.set_defaults(func=cmd_env)
    add_job_commands(sub)
    add_cluster_commands(sub)
    add_kernel_commands(sub)
    return parser


def cmd_logout(args: argparse.Namespace) -> int:
    was = profiles.logout(args.name)
    print(f"logged out of {args.name}" if was else f"{args.name}: no shared login was running")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    if args.action == "remove":
        profiles.remove_env(args.hash, args.profile)
        print(f"removed {args.hash}")
        return 0
    for env in profiles.envs(args.profile):
        state = "ready" if env["ready"] else "incomplete"
        tool = env.get("tool") or "-"
        print(
            f"{env['hash']}  {state:10}  {len(env['packages']):3} packages  {tool:3}  {env['path']}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; errors are one clear line on stderr and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ProfileError as exc:
        fields = getattr(exc, "errors", {exc.field: exc.message})
        for field, message in fields.items():
            print(f"clusterlab: {field}: {message}", file=sys.stderr)
        if getattr(args, "action", "") in ("add", "edit"):
            print("nothing was saved", file=sys.stderr)
        return 2
    except ClusterlabError as exc:
        print(f"clusterlab: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `clusterlab jobs | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
