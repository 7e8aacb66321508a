"""``clusterlab cluster info PROFILE``: what a cluster offers, as a table or JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..common.clusterinfo import table
from ..discovery import cluster_info


def add_cluster_commands(sub: Any) -> None:
    """Register ``cluster info`` on the top-level subparsers."""
    cluster = sub.add_parser("cluster", help="what a profile's cluster offers")
    csub = cluster.add_subparsers(dest="action", required=True)
    info = csub.add_parser(
        "info", help="partitions/queues with their limits and load, your accounts, QOS"
    )
    info.add_argument("name", metavar="PROFILE")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.add_argument(
        "--refresh", action="store_true", help="ask the cluster now, not this machine's cache"
    )
    cluster.set_defaults(func=cmd_cluster)


def cmd_cluster(args: argparse.Namespace) -> int:
    info = cluster_info(args.name, refresh=args.refresh)
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
    else:
        print(table(info))
    return 0
