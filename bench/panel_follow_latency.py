"""Latency of a printed line to the lab panel's log view (issue 30 item 5, the panel).

    python bench/panel_follow_latency.py [--lines N] [--json out.json]

Needs the sandbox. A SLURM-over-SSH job prints a line with its wall-clock time every
0.1-0.5 s (random phase); the panel's kernel side (a comm handler, as the lab opens one)
serves it two ways, and per line the time it reached the comm minus the time it was
printed is taken (both clocks this machine's: the sandbox is on loopback):

- polled, as the view did before: ``job.logs`` asked again every 2 s while the job runs;
- pushed: one ``job.follow``, then the ``job.output`` messages the kernel sends.

Also counts the comm messages each way cost. The browser adds its own rendering on top
(the Galata spec ui-tests/tests/log-follow.spec.ts records that end to end).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from common import delay_line, delay_stats, follow_setup, line_delays, write_json
from follow_latency import printer

TARGET_S = 0.1  # a printed line in the panel's comm (median), against ~1 s polled
POLL_EVERY_S = 2.0  # the view's old reload


class Comm:
    """Stands in for ipykernel's Comm: what the handler sends, with when it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.cond = threading.Condition()

    def send(self, data: dict[str, Any]) -> None:
        with self.cond:
            self.sent.append((time.time(), data))
            self.cond.notify_all()

    def on_msg(self, callback: Any) -> None:
        pass

    def on_close(self, callback: Any) -> None:
        pass

    def reply(self, rid: str) -> dict[str, Any]:
        with self.cond:
            while True:
                for _, msg in self.sent:
                    if msg.get("id") == rid:
                        return msg
                self.cond.wait(60)


def run(profile: Any, lines: int, how: str) -> dict[str, Any]:
    import clusterlab as cl
    from clusterlab.ui.comm import CommHandler

    comm = Comm()
    handler = CommHandler(comm)
    job = cl.cluster(profile.name)(printer).submit(lines)
    stamped: list[tuple[float, str]] = []
    requests = 0
    if how == "pushed":
        handler.handle({"v": 1, "type": "job.follow", "id": "f", "data": {"id": job.id}})
        assert comm.reply("f")["data"]["following"], comm.reply("f")
        requests = 1
        job.result(timeout=120)
        while True:
            with comm.cond:
                outs = [(t, m["data"]) for t, m in comm.sent if m["type"] == "job.output"]
            if outs and outs[-1][1]["ended"]:
                break
            time.sleep(0.05)
        stamped = [(t, out["text"]) for t, out in outs]
        messages = len(outs)
    else:
        shown = 0  # bytes of the log seen so far
        while True:
            ended = job.done()
            requests += 1
            rid = f"l{requests}"
            handler.handle({"v": 1, "type": "job.logs", "id": rid, "data": {"id": job.id}})
            reply = comm.reply(rid)["data"]
            arrived = next(t for t, m in comm.sent if m.get("id") == rid)
            stamped.append((arrived, reply["text"].encode()[shown - reply["start"] :].decode()))
            shown = reply["size"]
            if ended:
                break
            time.sleep(POLL_EVERY_S)
        messages = requests
    handler.close()
    return {
        **delay_stats(line_delays(stamped)),
        "requests": requests,
        "messages_to_panel": messages,
    }


def main() -> int:
    args, profile = follow_setup(__doc__)
    import clusterlab as cl

    cl.profiles.save(profile)
    cl.cluster(profile.name)(printer).submit(0).result(timeout=120)  # warm: connection, agent
    rows: dict[str, dict[str, Any]] = {}
    ways = (("polled (job.logs every 2 s)", "polled"), ("pushed (job.follow)", "pushed"))
    for label, how in ways:
        rows[label] = row = run(profile, args.lines, how)
        print(
            delay_line(label, row)
            + f"requests {row['requests']:3}  messages to the panel {row['messages_to_panel']:3}",
            flush=True,
        )
    push = rows["pushed (job.follow)"]
    met = push["median_s"] <= TARGET_S and push["requests"] == 1
    rows["target"] = {"met": met, "median_s": TARGET_S}
    print(
        f"issue 30 item 5, the panel's live log pushed: a line in "
        f"{push['median_s'] * 1000:.0f} ms (median; target <= {TARGET_S * 1000:.0f} ms), one "
        f"request for {push['lines']} lines: {'met' if met else 'missed'}"
    )
    write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
