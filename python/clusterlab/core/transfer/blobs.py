"""Large arguments travel once: a content-addressed store on the cluster.

An argument that pickles to ``BLOB_MIN_BYTES`` or more is stored as
``<remote_dir>/blobs/<sha256>.pkl`` and the job refers to it like to an earlier job's
result (the runner loads it), so submitting the same array again, from any job of this
profile, sends nothing but its digest. Uploads go to a temp file and are renamed, so no
job ever reads half a blob. This process remembers for ``KNOWN_SECONDS`` which digests the
cluster has, then asks again (one round trip, no upload), so a blob deleted by hand is
sent again instead of leaving later jobs without their argument.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import cloudpickle

from ...common.errors import SubmitError, TransportError
from ...transports.base import Transport
from .localcode import shipped_by_value

BLOB_MIN_BYTES = 1024 * 1024
KNOWN_SECONDS = 600.0

# Which of the given blob files exist (one round trip for all of them).
_HAVE = r"""
for f do
  if [ -f "$f" ]; then printf '%s\n' "$f"; fi
done
"""

# stdin -> DIR/NAME, atomically (temp file in the same dir, then rename), and only when
# all of it arrived: a connection cut mid-upload gives `cat` an early end of input, so the
# size ($3) and, where sha256sum exists, the content address (NAME) are checked first. The
# checksum is computed while the bytes arrive (tee), not read back afterwards: for 200 MB
# that was half a second after the last byte. OpenSSL's digest comes first where it exists:
# it uses the CPU's SHA instructions, and coreutils' sha256sum (9.1) does not: 1.3 s for
# 200 MB against 0.35 s here, which made the upload half as fast as scp (issue 30 item 4).
_PUT = r"""
mkdir -p -- "$1" && chmod 700 -- "$1" || exit 97
tmp=$(mktemp "$1/.upload.XXXXXX") || exit 97
if command -v openssl >/dev/null 2>&1 && printf '' | openssl dgst -sha256 -r >/dev/null 2>&1
then
  sum=$( { tee -- "$tmp" || : > "$tmp.failed"; } | openssl dgst -sha256 -r )
  if [ -e "$tmp.failed" ]; then rm -f -- "$tmp" "$tmp.failed"; exit 97; fi
elif command -v sha256sum >/dev/null 2>&1; then
  sum=$( { tee -- "$tmp" || : > "$tmp.failed"; } | sha256sum )
  if [ -e "$tmp.failed" ]; then rm -f -- "$tmp" "$tmp.failed"; exit 97; fi
else
  sum=
  cat > "$tmp" || { rm -f -- "$tmp"; exit 97; }
fi
size=$(wc -c < "$tmp")
if [ "$size" -ne "$3" ]; then rm -f -- "$tmp"; echo "got $size of $3 bytes" >&2; exit 98; fi
if [ -n "$sum" ]; then
  case $sum in "${2%.*} "*) ;; *) rm -f -- "$tmp"; echo "checksum differs" >&2; exit 98 ;; esac
fi
mv -f -- "$tmp" "$1/$2" || { rm -f -- "$tmp"; exit 97; }
"""


class BlobStore:
    """The blobs of one profile's ``remote_dir``, and the digests known to be there."""

    def __init__(self, transport: Transport, root: str) -> None:
        self.transport = transport
        self.root = root
        self.uploaded = 0  # bytes sent by this process (for benchmarks and tests)
        self._known: dict[str, float] = {}  # digest file name -> when we last knew
        self._lock = threading.Lock()

    def externalize(
        self, args: Sequence[Any], kwargs: Mapping[str, Any], refs: dict[str, Any]
    ) -> tuple[list[Any], dict[str, Any], dict[str, Any], dict[str, bytes]]:
        """Large arguments become references to blobs, which the runner loads; returns
        the new call and the blobs to :meth:`upload` (nothing is sent yet, so a call
        that cannot be pickled fails before anything reaches the cluster)."""
        args, kwargs = list(args), dict(kwargs)
        refs = {key: dict(value) for key, value in refs.items()}
        pending: dict[str, bytes] = {}

        def blob(data: bytes) -> dict[str, Any]:
            name = hashlib.sha256(data).hexdigest() + ".pkl"
            pending[name] = data
            return {"path": f"{self.root}/{name}", "blob": True}

        for pos, value in enumerate(args):
            if str(pos) not in refs.get("args", {}) and (data := _large(value)) is not None:
                refs.setdefault("args", {})[str(pos)] = blob(data)
                args[pos] = None
        for key, value in kwargs.items():
            if key not in refs.get("kwargs", {}) and (data := _large(value)) is not None:
                refs.setdefault("kwargs", {})[key] = blob(data)
                kwargs[key] = None
        return args, kwargs, refs, pending

    def upload(self, blobs: Mapping[str, bytes]) -> None:
        """Send the blobs the cluster lacks: one round trip to ask (unless this process
        already knows), one per missing blob."""
        now = time.monotonic()
        with self._lock:
            unknown = {
                n: d
                for n, d in blobs.items()
                if now - self._known.get(n, -KNOWN_SECONDS) >= KNOWN_SECONDS
            }
        if not unknown:
            return
        have = self.transport.script(_HAVE, *[f"{self.root}/{n}" for n in unknown])
        present = set(have.out.splitlines())
        for name, data in unknown.items():
            if f"{self.root}/{name}" not in present:
                res = self.transport.script(_PUT, self.root, name, str(len(data)), stdin=data)
                if res.returncode == 98:
                    raise TransportError(
                        f"{self.transport.label}: the connection dropped while a large "
                        f"argument was uploaded ({res.err.strip()}); nothing partial was kept: "
                        "submit again"
                    )
                if res.returncode != 0:
                    raise SubmitError(
                        f"could not upload a large argument to {self.root} on "
                        f"{self.transport.label}: {res.err.strip() or res.returncode}. Check "
                        "the profile's remote_dir (free space, permissions)."
                    )
                self.uploaded += len(data)
        with self._lock:
            self._known.update(dict.fromkeys(unknown, now))


def _large(value: Any) -> bytes | None:
    """``("ok", value)`` pickled (the runner's result format) if it is large, else None."""
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int) and nbytes < BLOB_MIN_BYTES // 2:
        return None  # an array known to be small: skip pickling it twice
    if isinstance(value, int | float | bool | type(None)):
        return None
    try:
        with shipped_by_value(value):  # a large object of a class of the user's own module
            data: bytes = cloudpickle.dumps(("ok", value), protocol=5)
    except Exception:
        return None  # dumps_call names what cannot be pickled, with the argument
    return data if len(data) >= BLOB_MIN_BYTES else None
