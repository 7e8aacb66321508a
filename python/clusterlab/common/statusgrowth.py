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


class GrowingStatus:
    """One status file's parse, kept between polls.

    Only complete lines (up to the last ``\\n``) are folded into the kept state: a last
    line without its newline may still be being written, so it is applied to a copy,
    as ``parse_status`` would apply it (a torn line counts as malformed there, a whole one
    as a record), and folded for good only once its newline came. Each result is a
    StatusInfo no later parse changes (folds copy what they change), as a caller may hold
    it across polls.
    """

    def __init__(self) -> None:
        self._prefix = b""  # the bytes folded into _state: whole lines, ending in "\n"
        self._state = StatusInfo()
        self._data: bytes | None = None  # the bytes of the last call, and its result
        self._result = StatusInfo()
        self.parsed_bytes = 0  # bytes folded in all (the cost; a full parse adds its length)

    def parse(self, data: bytes | None) -> StatusInfo:
        """``parse_status(data)``, at the cost of the lines not yet folded."""
        data = data or b""  # (no file yet reads as an empty one)
        if data == self._data:  # (a memcmp when as long: cheap beside any parse)
            return self._result
        complete = data.rfind(NEWLINE) + 1  # the whole lines' length (0: none yet)
        if self._prefix and data.startswith(self._prefix):  # grown: fold on from there
            if complete > len(self._prefix):
                state = copy_status(self._state)
                fold_status(state, data[len(self._prefix) : complete], set())
                self.parsed_bytes += complete - len(self._prefix)
                self._state, self._prefix = state, data[:complete]
        else:  # new, shrunk or rewritten: from scratch
            self._state, self._prefix = StatusInfo(), data[:complete]
            fold_status(self._state, self._prefix)
            self.parsed_bytes += complete
        self._data = data
        self._result = self._state
        if complete < len(data):  # the last line has no newline yet: on a copy
            self._result = copy_status(self._state)
            fold_status(self._result, data[complete:], set())
            self.parsed_bytes += len(data) - complete
        return self._result
