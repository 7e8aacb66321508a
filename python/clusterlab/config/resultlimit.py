"""How large a result may be before it stays on the cluster (``result_limit``).

A job's result above this size is not downloaded when the job finishes: ``job.result()``
returns a :class:`clusterlab.RemoteResult` whose ``.fetch()`` brings it here when asked,
so a 2 GB array does not fill the kernel's memory (or the link) unasked. The profile
field sets the default; ``f.options(result_limit="10GB")`` changes it for one call.
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import Any

from .fieldmeta import meta as _meta

DEFAULT_RESULT_LIMIT = "1GB"
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B?)\s*\Z", re.IGNORECASE)
_UNIT = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_PROBLEM = (
    "must be a size such as '1GB', '500MB' or '0' (0 downloads every result, however "
    "large); a plain number is bytes"
)


def limit_bytes(value: Any) -> int:
    """``result_limit`` in bytes; 0 means no limit. "1GB" is 1024**3 bytes, like memory."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"result_limit={value!r} {_PROBLEM}")
    if isinstance(value, int | float):
        if value < 0 or value != value:
            raise ValueError(f"result_limit={value!r} {_PROBLEM}")
        return int(value)
    m = _SIZE_RE.match(value)
    if not m or (m.group(3) and not m.group(2) and m.group(3).upper() != "B"):
        raise ValueError(f"result_limit={value!r} {_PROBLEM}")
    return int(float(m.group(1)) * _UNIT[m.group(2).upper()])


def check_result_limit(value: Any) -> str:
    """The profile field: kept as written (validated), e.g. '1GB'."""
    limit_bytes(value)
    return str(value).strip()


def size_text(size: int) -> str:
    """A byte count as people read it: '5.0 MB', '2.0 GB' (powers of 1024, as limits)."""
    if size < 1024:
        return f"{size} bytes"
    for unit, scale in (("KB", 1024), ("MB", 1024**2), ("GB", 1024**3)):
        if size < scale * 1024 or unit == "GB":
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"  # pragma: no cover - the loop returns


def result_limit() -> Any:
    return field(
        default=DEFAULT_RESULT_LIMIT,
        metadata=_meta(
            "Keep results larger than",
            "A job's result larger than this stays on the cluster: job.result() then gives "
            "a RemoteResult (its .size, its .path there) whose .fetch() downloads it when "
            "you ask. '0' downloads every result, however large.",
            "1GB",
            check=check_result_limit,
        ),
    )
