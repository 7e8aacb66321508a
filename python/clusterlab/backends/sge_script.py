"""What a Grid Engine job script says beyond the resources: the dependency guard, the
soft limit of a requeue job, the success mark, and the extra ``#$`` options a user may add
(the backend, :mod:`.sge`, writes the rest; its docstring says why each exists)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence

from ..common.errors import ResourceError

MARK = "sge-ok"  # left in a job dir by a job that succeeded (MARK.TASK for array tasks)
GUARD_EVENT = "sge-dependency-failed"  # status line of a job whose dependency failed
GUARD_TRIES = 5  # a missing mark is looked for again (1 s apart) before giving up
# Options clusterlab writes itself; an extra one would fight it.
_OWNED = {
    **dict.fromkeys(("-N",), "the job name comes from the function (or name=)"),
    **dict.fromkeys(("-t", "-tc"), "arrays come from .map() (max_concurrent= sets -tc)"),
    **dict.fromkeys(
        ("-o", "-e", "-j", "-cwd", "-wd"), "clusterlab runs the job in its job directory"
    ),
    **dict.fromkeys(("-S", "-b", "-C", "-terse", "-sync"), "clusterlab writes the job script"),
    **dict.fromkeys(("-hold_jid", "-hold_jid_ad"), "dependencies come from after=[...]"),
}


def hms(seconds: int) -> str:
    """Seconds as Grid Engine's H:MM:SS."""
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def guard_lines(after: Sequence[str], marks: Mapping[str, str]) -> list[str]:
    """The script lines that stop a job whose dependency did not succeed (``-hold_jid``
    waits only for it to end); ``marks``: where each job it waits for leaves its mark."""
    unknown = [n for n in after if n not in marks]
    if unknown:
        raise ResourceError(
            f"cannot wait for Grid Engine job {unknown[0]}: -hold_jid waits for jobs to "
            "end, so clusterlab checks their success in their job directories, and this "
            "one's is unknown. Pass the Job itself in after=[...]"
        )
    listed = " ".join(shlex.quote(marks[n]) for n in after)
    line = shlex.quote(json.dumps({"event": GUARD_EVENT}))
    return [
        "# Grid Engine starts this job once the jobs it waits for ended: go on only if",
        "# each succeeded (listing the dir refreshes what a network file system shows)",
        f"for mark in {listed}; do",
        "  tries=0",
        '  until [ -e "$mark" ]; do',
        "    tries=$((tries + 1))",
        f'    if [ "$tries" -gt {GUARD_TRIES} ]; then',
        f"      printf '%s\\n' {line} >>\"$STATUS\"",
        '      echo "clusterlab: not run: a job it waits for did not succeed ($mark is '
        'missing)" >&2',
        "      exit 1",
        "    fi",
        '    ls -a -- "${mark%/*}" >/dev/null 2>&1',
        "    sleep 1",
        "  done",
        "done",
    ]


def warning_at(time_s: int, grace_s: int) -> int:
    """Seconds into a run at which a requeue job is warned (s_rt). Grid Engine sends USR1
    at s_rt to the second, so the grace may shrink to half a short limit: a 40 s job is
    warned after 20 s rather than never."""
    return time_s - min(grace_s, time_s // 2)


def mark_name(task: int | str | None) -> str:
    return MARK if task is None else f"{MARK}.{task}"


def extra_option(option: str) -> str:
    """A user's extra ``#$`` option, refused with a sentence when it would fight clusterlab."""
    if option.startswith("--"):
        raise ResourceError(
            f"extra={option!r} looks like a SLURM option; Grid Engine options are single-dash, "
            "e.g. extra=['-l gpu=1'] or extra=['-P myproject']"
        )
    word = option.split()[0].split("=")[0]
    if word in _OWNED:
        raise ResourceError(f"extra={option!r} is not allowed with Grid Engine: {_OWNED[word]}")
    return option
