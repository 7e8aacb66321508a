"""The ``env.event`` push: steps of environment builds (:mod:`..envrelay`). No requests."""

from __future__ import annotations

from ..envrelay import EnvEventRelay
from .topic import EVENT_INTERVAL, Connection, Topic


def open_topic(conn: Connection) -> Topic:
    relay = EnvEventRelay(conn.send, EVENT_INTERVAL)
    return Topic({}, close=relay.close)
