"""How a Follower joins pushed pieces and read bytes of one log (core/watching/follow.py):
one offset per stream, so whichever brings a byte first, it is shown once and in order."""

from __future__ import annotations

from types import SimpleNamespace

from clusterlab.core.watching.follow import Follower


def _follower() -> Follower:
    job = SimpleNamespace(job_dir="/jobs/j1", array_id=None, task=None)
    return Follower(job, ("stdout",))  # type: ignore[arg-type]


def _text(f: Follower) -> str:
    return "".join(text for _, text in f.drain())


def test_pushed_bytes_a_read_already_brought_are_skipped() -> None:
    f = _follower()
    f.feed(f.ranges(), [(6, b"hello\n")])  # the watcher's read came first
    assert not f.take_pushed("stdout", 0, b"hello\nworld\n", more=False)  # overlaps it
    assert _text(f) == "hello\nworld\n"
    assert f.offset_of("stdout") == 12
    assert not f.take_pushed("stdout", 6, b"world\n", more=False)  # a repeat: nothing
    assert _text(f) == ""


def test_a_paused_or_missing_piece_makes_the_watcher_read_it() -> None:
    f = _follower()
    f.pushed = True
    assert f.take_pushed("stdout", 0, b"a" * 10, more=True)  # past the agent's cap
    assert not f.current  # the watcher reads this follower now
    asked = f.ranges()
    assert asked == [("/jobs/j1/stdout", 10, None)]
    f.feed(asked, [(30, b"b" * 20)])
    assert f.caught_up() == {"stdout": 30}  # where the agent goes on
    assert f.current
    assert f.take_pushed("stdout", 40, b"c", more=False)  # a gap (an agent restarted)
    assert not f.current
    assert _text(f) == "a" * 10 + "b" * 20  # nothing shown out of order
