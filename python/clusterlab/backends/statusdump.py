"""Every status file of many job dirs, read in one process per dir and split again.

The poll of every batch backend appends this shell to its scheduler query, so one round
trip brings the scheduler's view and the runners' own records together.
"""

from __future__ import annotations

import re

# Every status file of many job dirs in one process per dir: "=== DIR" then tail's
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
_clusterlab_status() {
while IFS= read -r d; do
  printf '=== %s\n' "$d"
  (
    cd -- "$d" 2>/dev/null || { printf '==> %s <==\n' "$NO_DIR"; exit 0; }
    files=
    for f in status status.*; do
      [ -f "$f" ] || continue
      case ${f#status} in ''|.*) ;; *) continue ;; esac
      case ${f#status.} in status) ;; ''|*[!0-9]*) continue ;; esac
      files="$files $f"
    done
    [ -n "$files" ] && tail -n +1 -- $files /dev/null 2>/dev/null
  ) </dev/null
done
}
if _clusterlab_t=$(mktemp 2>/dev/null); then
  _clusterlab_status >"$_clusterlab_t"; cat -- "$_clusterlab_t"; rm -f -- "$_clusterlab_t"
else
  _clusterlab_status
fi"""
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
