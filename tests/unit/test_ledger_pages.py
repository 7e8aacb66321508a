"""Issue 30, item 2: the ledger and the panel's ``jobs.list`` paged.

Before, ``jobs.list`` read every ledger row (decoding each row's JSON), dropped the
cleared ones in Python and cut the list at ``limit``: the panel asked for 500, and the
jobs past the 500th could not be reached from it. Now a page is read in SQL from an
``offset``, with the total, the cleared count and a search of names and ids. Rows are
written with the ledger's own API (no jobs are run); two comm handlers stand for the panel.
"""

from __future__ import annotations

from typing import Any

import pytest

from clusterlab.core.ledger import cleared, store
from clusterlab.ui.comm import CommHandler

from .test_comm import RecordingComm, request


def _seed(count: int, finished_every: int = 3) -> list[str]:
    """``count`` rows, ``j00000`` oldest; every ``finished_every``-th one COMPLETED (the
    others FAILED too: finished, so the panel reattaches nothing). Ids newest first."""
    rows = [
        {
            "id": f"j{i:05d}",
            "kind": "job",
            "profile": "hpc" if i % 2 else "local",
            "profile_json": "{}",
            "name": f"train_{i}",
            "native_id": str(7000 + i),
            "job_dir": f"/tmp/jobs/j{i:05d}",
            "resources": {},
            "after": [],
            "submitted": 1_700_000_000.0 + i,
            "state": "COMPLETED" if i % finished_every == 0 else "FAILED",
        }
        for i in range(count)
    ]
    store.record_many(rows)
    return [r["id"] for r in reversed(rows)]


def _list(handler: CommHandler, comm: RecordingComm, data: dict[str, Any]) -> dict[str, Any]:
    reply = request(handler, comm, "jobs.list", data, f"l{len(comm.sent)}")
    assert reply["ok"], reply
    return dict(reply["data"])


@pytest.fixture
def panel() -> Any:
    comm = RecordingComm()
    handler = CommHandler(comm)
    yield handler, comm
    handler.close()


def test_jobs_past_the_first_page_are_reached_with_offset(panel: Any) -> None:
    # Failed before: 'offset' was ignored, every request answered the newest rows.
    ids = _seed(1000)
    first = _list(*panel, {"limit": 100})
    second = _list(*panel, {"limit": 100, "offset": 100})
    last = _list(*panel, {"limit": 100, "offset": 900})
    assert [j["id"] for j in first["jobs"]] == ids[:100]
    assert [j["id"] for j in second["jobs"]] == ids[100:200]
    assert [j["id"] for j in last["jobs"]] == ids[900:]
    assert (second["total"], second["offset"]) == (1000, 100)


def test_an_offset_past_the_end_answers_the_last_page(panel: Any) -> None:
    # After "Clear finished" the page a panel was on may be gone: it gets the last one.
    ids = _seed(250)
    past = _list(*panel, {"limit": 100, "offset": 5000})
    assert past["offset"] == 200 and [j["id"] for j in past["jobs"]] == ids[200:]


def test_cleared_jobs_leave_the_pages_and_the_total(panel: Any) -> None:
    ids = _seed(300, finished_every=1)  # all finished
    store.update_jobs([("RUNNING", "", 1.0, None, "{}", ids[0])])  # the newest still runs
    assert cleared.clear_finished() == 299
    shown = _list(*panel, {"limit": 100})
    assert [j["id"] for j in shown["jobs"]] == [ids[0]]
    assert (shown["total"], shown["cleared"], shown["finished"]) == (1, 299, 0)
    everything = _list(*panel, {"limit": 100, "offset": 100, "include_cleared": True})
    assert [j["id"] for j in everything["jobs"]] == ids[100:200]
    assert (everything["total"], everything["cleared"], everything["finished"]) == (300, 0, 299)


def test_filters_and_search_are_counted_over_the_whole_ledger(panel: Any) -> None:
    _seed(1000)
    hpc = _list(*panel, {"limit": 10, "profile": "hpc", "state": "COMPLETED"})
    # odd and a multiple of 3: 3, 9, 15, ... 999
    assert hpc["total"] == 167 and hpc["jobs"][0]["id"] == "j00999"
    assert hpc["profiles"] == ["hpc", "local"]
    found = _list(*panel, {"limit": 10, "text": "TRAIN_99 hpc"})  # a word may be absent...
    assert found["total"] == 0  # ...then nothing matches: every word must
    found = _list(*panel, {"limit": 10, "text": "TRAIN_99"})
    assert found["total"] == 11  # train_99 and train_990..999
    by_native = _list(*panel, {"limit": 10, "text": "7005"})
    assert [j["id"] for j in by_native["jobs"]] == ["j00005"]
    literal = _list(*panel, {"limit": 10, "text": "train%"})  # % is a character, not "any"
    assert literal["total"] == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"offset": -1}, "'offset' must be a whole number of jobs to skip"),
        ({"offset": "100"}, "'offset' must be a whole number of jobs to skip"),
        ({"offset": 1.5}, "'offset' must be a whole number of jobs to skip"),
        ({"offset": True}, "'offset' must be a whole number of jobs to skip"),
        ({"text": ["a"]}, "'text' must be the words to search names and ids for"),
    ],
)
def test_bad_paging_input_gets_a_sentence(panel: Any, data: dict[str, Any], message: str) -> None:
    handler, comm = panel
    reply = request(handler, comm, "jobs.list", data, "bad")
    assert not reply["ok"] and reply["error"]["message"].startswith(message)


def test_query_keeps_its_callers_and_pages_in_sql() -> None:
    ids = _seed(50)
    assert [r.id for r in store.query()] == ids
    assert [r.id for r in store.query(limit=5, offset=10)] == ids[10:15]
    assert [r.id for r in store.query(offset=45)] == ids[45:]
    assert [r.id for r in store.query(profile="hpc", limit=2)] == ids[0:4:2]


def test_a_ledger_of_an_earlier_release_gains_the_page_index() -> None:
    _seed(3)
    conn = store.connect()
    conn.execute("DROP INDEX jobs_submitted")
    store._local.conn = None  # a new process opening the older ledger
    conn.close()
    from clusterlab.core.ledger import pages

    names = {r[1] for r in store.connect().execute("PRAGMA index_list(jobs)")}
    assert "jobs_submitted" in names
    assert pages.page(limit=2).total == 3


def test_a_page_of_jobs_list_decodes_only_its_rows(panel: Any, monkeypatch: Any) -> None:
    # Failed before: jobs.list decoded all 10,000 rows (JSON columns included) to send 100.
    _seed(10_000)
    decoded: list[str] = []
    original = store.JobRecord

    def counting(*args: Any, **kwargs: Any) -> store.JobRecord:
        decoded.append(kwargs["id"])
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "JobRecord", counting)
    page = _list(*panel, {"limit": 100, "offset": 9_900})
    assert page["total"] == 10_000 and len(page["jobs"]) == 100
    assert len(decoded) == 100
