"""``hello``: the first request of a panel; the protocol version, the profile schema the
panel builds its form from, the scheduler kinds and the default profile."""

from __future__ import annotations

from typing import Any

from ... import profiles
from ..._version import __version__
from ...config.profile import SCHEDULER_KINDS, schema
from .topic import PROTOCOL_VERSION, Connection, Request, Topic


def open_topic(conn: Connection) -> Topic:
    def hello(data: dict[str, Any], rid: str) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL_VERSION,
            "version": __version__,
            "schema": schema(),
            "schedulers": list(SCHEDULER_KINDS),
            "default_profile": profiles.default_name(),
        }

    return Topic({"hello": Request(hello)})
