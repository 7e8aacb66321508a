"""The ``cluster.*`` requests: what a profile's cluster offers (``cluster.info``, for the
form's partition, account and QOS pickers with their tooltips) and when a job would start
(``cluster.estimate``, the form's "When would it start?"). Both may touch the cluster, so
both are slow requests (served on the comm's pool). A discovery that fails is not an
error reply: the form stays free text and shows ``why``."""

from __future__ import annotations

from typing import Any

from ...common.errors import ClusterlabError, ResourceError
from ...config.resources import parse_resources
from ...discovery import cluster_info, estimate_for
from .topic import Connection, Request, RequestError, Topic, profile_name


def info(data: dict[str, Any], rid: str) -> dict[str, Any]:
    """``{"info": ...}`` with each partition's one-line ``summary`` for its tooltip, or
    ``{"info": null, "why": sentence}`` when the cluster could not be asked."""
    try:
        found = cluster_info(profile_name(data), refresh=bool(data.get("refresh")))
    except ClusterlabError as exc:
        return {"info": None, "why": str(exc)}
    doc = found.to_dict()
    for part, source in zip(doc["partitions"], found.partitions, strict=True):
        part["summary"] = source.summary()
    return {"info": doc, "why": "; ".join(found.why)}


def estimate(data: dict[str, Any], rid: str) -> dict[str, Any]:
    """``{"estimate": {start (ISO 8601 or null), reason, partition, pending, fair_share,
    text}}`` for the profile with ``resources`` (the form's values) over its defaults."""
    resources = data.get("resources") or {}
    if not isinstance(resources, dict):
        raise RequestError("'resources' must be an object such as {\"cores\": 4}")
    try:
        request = parse_resources(resources)
    except ResourceError as exc:
        raise RequestError(str(exc)) from None
    est = estimate_for(profile_name(data), request)
    return {
        "estimate": {
            "start": est.start.isoformat() if est.start else None,
            "reason": est.reason,
            "partition": est.partition,
            "pending": est.pending,
            "fair_share": est.fair_share,
            "why": list(est.why),
            "text": str(est),
        }
    }


def open_topic(conn: Connection) -> Topic:
    return Topic(
        {
            "cluster.info": Request(info, slow=True),
            "cluster.estimate": Request(estimate, slow=True),
        }
    )
