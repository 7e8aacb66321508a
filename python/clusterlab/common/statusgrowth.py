"""Parse a status file that grows, folding in only the lines added since the last parse.

Why: an array task's status file gains two lines per item, and every poll brings the whole
file again. Parsing it whole at each poll cost a third of the kernel's CPU in a
100,000-item map (docs/performance.md: 5.7 s in 66 parses over 70 MB). The runner only
ever appends (one ``O_APPEND`` write per line), so the earlier lines mean what they meant
at the last poll, and their fold (a :class:`StatusInfo`) can be continued. Anything else
(the file shrank or was rewritten: a requeued job's rotated file, a Kubernetes floor, a
pushed line instead of the file) is parsed from scratch, so the result is always exactly
``parse_status(data)``.
"""

from __future__ import annotations

from .jobdir import StatusInfo, copy_status, fold_status

NEWLINE = b"\n"
KEEP = 3  # fold states kept per file: the newest and two earlier (see GrowingStatus.parse)


class GrowingStatus:
    """One status file's parse, kept between polls.

    Only whole lines are folded into the kept states: a last line without its newline may
    still be being written, so it is applied to a copy, as ``parse_status`` would apply it
    (a torn line counts as malformed there, a whole one as a record), and folded for good
    only once its newline came. Empty lines at the end are applied to a copy too: a polled
    file ends in one more newline than the file (``tail``'s separator, see
    ``backends/statusdump.py``) while the same file pushed by the status agent does not,
    and either must continue from the other's state. Each result is a StatusInfo no later
    parse changes (folds copy what they change), as a caller may hold it across polls.
    """

    def __init__(self) -> None:
        self._prefix = b""  # the longest bytes folded: whole lines (ending in "\n") or b""
        # States of prefixes of _prefix (length, state), shortest first; the last is
        # _prefix's. Earlier ones serve a reading older than the newest: a poll that read
        # the file before the agent pushed its latest lines.
        self._folds: list[tuple[int, StatusInfo]] = [(0, StatusInfo())]
        self._data: bytes | None = None  # the bytes of the last call, and its result
        self._result = StatusInfo()
        self.parsed_bytes = 0  # bytes folded in all (the cost; a full parse adds its length)

    def parse(self, data: bytes | None) -> StatusInfo:
        """``parse_status(data)``, at the cost of the lines not yet folded."""
        data = data or b""  # (no file yet reads as an empty one)
        if data == self._data:  # (a memcmp when as long: cheap beside any parse)
            return self._result
        whole = _whole_lines(data)
        if not data.startswith(self._prefix):  # not grown: older, or rewritten
            older = whole < len(self._prefix) and self._prefix.startswith(data[:whole])
            if not older:  # shrunk or rewritten (a requeue's rotated file...): anew
                self._prefix, self._folds = b"", [(0, StatusInfo())]
        start, base = next((f for f in reversed(self._folds) if f[0] <= whole), (0, None))
        state = base or StatusInfo()
        if whole > start:
            state = copy_status(state)
            fold_status(state, data[start:whole], set())
            self.parsed_bytes += whole - start
            self._keep(whole, state, data)
        self._data, self._result = data, state
        if whole < len(data):  # a torn last line, or empty ones: on a copy
            self._result = copy_status(state)
            fold_status(self._result, data[whole:], set())
            self.parsed_bytes += len(data) - whole
        return self._result

    def _keep(self, length: int, state: StatusInfo, data: bytes) -> None:
        """Keep a new fold state (``data``'s first ``length`` bytes): the :data:`KEEP`
        longest are kept (a reading older than all of them is parsed from the start)."""
        if length > len(self._prefix):
            self._prefix = data[:length]
        self._folds.append((length, state))
        self._folds.sort(key=lambda fold: fold[0])
        del self._folds[: max(0, len(self._folds) - KEEP)]


def _whole_lines(data: bytes) -> int:
    """How many of ``data``'s bytes are lines that later bytes cannot change: through its
    last newline, less the empty lines at its end."""
    content = len(data.rstrip(NEWLINE))
    return content + 1 if content < len(data) else data.rfind(NEWLINE) + 1
