"""Every status file of many job dirs, read in one process per dir and split again.

The poll of every batch backend appends this shell to its scheduler query, so one round
trip brings the scheduler's view and the runners' own records together.
"""

from __future__ import annotations

import base64
import binascii
import re

# Every status file of many job dirs, one process per dir that has one: "=== DIR" then tail's
# "==> status.N <==" headers (/dev/null makes tail print headers even for one file). Only
# "status" and "status.DIGITS" are read: a file a job names "status.9<newline>==> status.0
# <==" would otherwise forge a header and speak for another task.
NO_DIR = "(no job directory)"  # a pseudo file name no job can create (names are checked)
# The dirs come one per line on the loop's stdin (see :func:`read_status_lines`), never as
# arguments: a thousand job dirs in the command line were ~100 KB, and past 256 KB sshd
# drops the whole connection ("Bad packet length"). The dump goes through a temporary file
# and one `cat` (when mktemp works): written straight to the pipe, it reached the poller in
# a small write per job dir, one wake-up of its reading loop each (5,000 a poll with 5,000
# jobs, ~0.1 s of the kernel's CPU); from a file it comes in a few large reads.
READ_STATUS = r"""
NO_DIR='(no job directory)'
INLINE='(result, base64)'
budget=INLINE_BUDGET
_clusterlab_status() {
while IFS= read -r d; do
  printf '=== %s\n' "$d"
  if [ ! -d "$d" ] || [ ! -x "$d" ] || [ ! -r "$d" ]; then
    printf '==> %s <==\n' "$NO_DIR"
    continue
  fi
  # Builtins only until a status file is found: a pending job (no file yet) costs no
  # process, so 10,000 watched jobs are not 10,000 forks a poll on the login node.
  files=
  for f in "$d"/status "$d"/status.*; do
    [ -f "$f" ] || continue
    f=${f##*/}
    case ${f#status} in ''|.*) ;; *) continue ;; esac
    case ${f#status.} in status) ;; ''|*[!0-9]*) continue ;; esac
    files="$files $f"
  done
  if [ -n "$files" ]; then
    ( cd -- "$d" 2>/dev/null && tail -n +1 -- $files /dev/null 2>/dev/null ) </dev/null
  fi
  # A small result comes along (base64: its bytes cannot forge a header), so a job seen
  # finished needs no second round trip to be read; at most INLINE_BUDGET bytes a poll.
  if [ "$budget" -gt 0 ] && [ -f "$d/result.pkl" ]; then
    n=$(wc -c < "$d/result.pkl" 2>/dev/null) || n=
    case $n in
      ''|*[!0-9\ ]*) ;;
      *) if [ "$n" -le INLINE_MAX ] && [ "$n" -le "$budget" ]; then
           budget=$((budget - n))
           printf '\n==> %s <==\n' "$INLINE"
           base64 < "$d/result.pkl" 2>/dev/null
         fi ;;
    esac
  fi
done
}
if _clusterlab_t=$(mktemp 2>/dev/null); then
  _clusterlab_status >"$_clusterlab_t"; cat -- "$_clusterlab_t"; rm -f -- "$_clusterlab_t"
else
  _clusterlab_status
fi"""
INLINE = "(result, base64)"  # a pseudo file name no job can create: the inline result
LOG_SIZES = "(log sizes)"  # pushed by the status agent with a job's end (agentlink)
INLINE_MAX = 64 * 1024  # bytes of one result carried in the poll
INLINE_BUDGET = 1024 * 1024  # bytes of results one poll carries at most; the rest is read
READ_STATUS = READ_STATUS.replace("INLINE_MAX", str(INLINE_MAX)).replace(
    "INLINE_BUDGET", str(INLINE_BUDGET)
)
HEREDOC_END = "--clusterlab-dirs--"  # cannot be a job dir: those are absolute paths


def read_status_lines(job_dirs: list[str]) -> str:
    """:data:`READ_STATUS` over ``job_dirs``, given as a here-document (the script itself
    travels on stdin, so its size is not limited as a command line is)."""
    for d in job_dirs:
        if "\n" in d or not d.startswith("/"):
            raise ValueError(f"not an absolute job dir on one line: {d!r}")
    listing = "".join(f"{d}\n" for d in job_dirs)
    return f"{READ_STATUS} <<'{HEREDOC_END}'\n{listing}{HEREDOC_END}\n"


# A job dir's line ("=== DIR") or a file's header ("==> NAME <==") from tail; found by one
# regular-expression scan, so the 10,000 job dirs of a big poll cost no Python per line.
_HEADER = re.compile(rb"^(?:=== (.*)|==> (.*) <==)$\n?", re.M)


def inline_result(files: dict[str, bytes]) -> bytes | None:
    """The result the poll carried for a job dir (see ``READ_STATUS``), or None: none was
    small enough, the budget was spent, or ``base64`` failed there (then it is read)."""
    text = files.get(INLINE)
    if not text:
        return None
    try:
        return base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_status_dump(blob: bytes) -> dict[str, dict[str, bytes]]:
    """Inverse of ``READ_STATUS``: ``job_dir -> {file name: contents}``."""
    out: dict[str, dict[str, bytes]] = {}
    files: dict[str, bytes] | None = None
    name = ""
    start = 0
    for header in _HEADER.finditer(blob):
        if files is not None and name and name != "/dev/null":
            files[name] = blob[start : header.start()]
        job_dir, file_name = header.groups()
        if job_dir is not None:
            files = out.setdefault(job_dir.decode("utf-8", "surrogateescape"), {})
            name = ""
        else:
            name = file_name.decode("utf-8", "surrogateescape")
        start = header.end()
    if files is not None and name and name != "/dev/null":
        files[name] = blob[start:]
    return out
