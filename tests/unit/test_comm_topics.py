"""The comm's topic registry: a new topic is its module and one line in
``clusterlab.ui.comm.registry.TOPICS``; the router needs no change to serve it, lists it
among the known request types and closes it with the comm."""

from __future__ import annotations

from typing import Any

import pytest

from clusterlab.ui.comm import PROTOCOL_VERSION, CommHandler, registry
from clusterlab.ui.comm.topic import Connection, Request, RequestError, Topic

from .test_comm import RecordingComm


def test_a_registered_topic_is_served_listed_and_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed: list[bool] = []

    def open_topic(conn: Connection) -> Topic:
        def ping(data: dict[str, Any], rid: str) -> dict[str, Any]:
            if "boom" in data:
                raise RequestError("no boom here", {"boom": "leave it out"})
            conn.send("toy.pushed", {"request": rid})
            return {"pong": data.get("n", 0) + 1}

        return Topic({"toy.ping": Request(ping)}, close=lambda: closed.append(True))

    monkeypatch.setattr(registry, "TOPICS", (*registry.TOPICS, open_topic))
    comm = RecordingComm()
    handler = CommHandler(comm)
    try:
        comm.callback(
            {"content": {"data": {"v": 1, "type": "toy.ping", "id": "t", "data": {"n": 1}}}}
        )
        comm.callback(
            {"content": {"data": {"v": 1, "type": "toy.ping", "id": "u", "data": {"boom": 1}}}}
        )
        comm.callback({"content": {"data": {"v": 1, "type": "nope", "id": "w"}}})
    finally:
        handler.close()
    assert comm.sent[:2] == [
        {"v": PROTOCOL_VERSION, "type": "toy.pushed", "id": None, "data": {"request": "t"}},
        {
            "v": PROTOCOL_VERSION,
            "type": "toy.ping.reply",
            "id": "t",
            "ok": True,
            "data": {"pong": 2},
        },
    ]
    assert comm.sent[2]["error"] == {"message": "no boom here", "fields": {"boom": "leave it out"}}
    assert "toy.ping" in comm.sent[3]["error"]["message"]  # known: ..., toy.ping
    assert closed == [True]
