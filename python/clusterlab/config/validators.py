"""Field validators of the profile schema: each takes what a user typed (a string from a
form or the CLI, or a Python value) and returns the clean value or raises ValueError with
a sentence that says what to type instead."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from typing import Any

from ..common import kinds as registry
from ..common.errors import ResourceError
from .resources import parse_resources, refuse_unsupported

_PROFILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_HOST_RE = re.compile(r"^[A-Za-z0-9_.:%\[\]-]{0,253}\Z")
_USER_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.@-]{0,63}\Z")


LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")  # what sh, TOML and editors call a line break


def text_value(value: Any, example: str, optional: bool = True) -> str:
    """A text field's value: a str (or a path object); None is empty when optional.
    Anything else is refused rather than turned into text by str() ("['a']")."""
    if value is None and optional:
        return ""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ValueError(
            f"must be text, not {type(value).__name__} {value!r:.40}: e.g. {example!r}"
        )
    return value


def _whole(value: Any, problem: str) -> int:
    """A whole number from an int, an integral float or text; ``problem`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(problem)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError(problem) from None
    raise ValueError(problem)


def check_name(value: Any) -> str:
    text = text_value(value, "hpc", optional=False)
    if not _PROFILE_NAME_RE.match(text):
        raise ValueError(
            "use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit "
            "(e.g. 'hpc' or 'uni-cluster')"
        )
    return text


def check_scheduler(value: Any) -> str:
    return registry.get(str(value)).name


def check_host(value: Any) -> str:
    text = text_value(value, "login.example.edu").strip()
    if not _HOST_RE.match(text) or text.startswith("-"):
        raise ValueError("give a host name or address such as 'login.example.edu' (no spaces)")
    return text


def check_user(value: Any) -> str:
    text = text_value(value, "jdoe").strip()
    if text and not _USER_RE.match(text):
        raise ValueError("give a login name such as 'jdoe' (letters, digits, '_', '.', '-')")
    return text


def check_port(value: Any) -> int:
    port = _whole(value, "must be a number from 1 to 65535, usually 22")
    if not 1 <= port <= 65535:
        raise ValueError("must be a number from 1 to 65535, usually 22")
    return port


def one_path(value: Any, example: str) -> str:
    """A path as one line that cannot be mistaken for an option."""
    text = text_value(value, example)
    if any(ch in text for ch in "\n\r\0"):
        raise ValueError(
            f"a path cannot contain line breaks or NUL characters: give one path, e.g. {example!r}"
        )
    if text.startswith("-"):
        raise ValueError(
            f"{text[:40]!r} starts with '-', so a program would read it as an option: give "
            f"the full path, e.g. {example!r}"
        )
    return text


def check_key_file(value: Any) -> str:
    return one_path(value, "~/.ssh/id_ed25519")


def check_known_hosts(value: Any) -> str:
    return one_path(value, "~/.ssh/known_hosts")


def check_ssh_config(value: Any) -> str:
    return one_path(value, "~/.ssh/config")


def check_remote_dir(value: Any) -> str:
    """Empty (the default), absolute, or under the home directory ('~' or '~/...'): a
    relative directory would depend on where each command happens to start."""
    text = one_path(value, "~/.clusterlab")
    if text and not (text.startswith("/") or text == "~" or text.startswith("~/")):
        raise ValueError(
            f"{text[:40]!r} is a relative path: give an absolute path such as "
            "'/scratch/jdoe/clusterlab' or one under your home directory such as "
            "'~/.clusterlab' (only '~/' is expanded, not '~user' or $HOME)"
        )
    return text


_PYTHON_EXAMPLE = "e.g. 'python3', '~/venv/bin/python' or \"'/opt/my python/bin/python3' -u\""


def check_python(value: Any) -> str:
    """A command line: the interpreter (a name on PATH, an absolute path or '~/...'),
    then its arguments, split like a shell would (quotes group, nothing is expanded)."""
    text = one_path(value, "~/venv/bin/python").strip(" \t")
    if not text:
        return ""
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise ValueError(
            f"{text[:60]!r} cannot be split into a command ({exc}: a quote is unbalanced): "
            f"close the quote or remove it, {_PYTHON_EXAMPLE}"
        ) from None
    program = argv[0] if argv else ""
    if program.startswith("-"):
        raise ValueError(
            f"{text[:40]!r} starts with '-', an option, not a program: name the interpreter "
            f"first and its options after it, {_PYTHON_EXAMPLE}"
        )
    if "/" in program and not (program.startswith("/") or program.startswith("~/")):
        raise ValueError(
            f"{program[:40]!r} is a relative path, which a job would look up in its own job "
            f"directory: give a full path or a command on PATH, {_PYTHON_EXAMPLE}"
        )
    return text


def check_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "yes", "1", "on"):
        return True
    if str(value).lower() in ("false", "no", "0", "off", ""):
        return False
    raise ValueError("must be true or false")


def check_setup(value: Any) -> list[str]:
    """Shell lines, kept as written; text is split only at real line breaks (\\n, \\r),
    never at U+2028, NEL or form feeds, which sh reads as ordinary characters.

    The lines are the user's own shell code and run as given; what is checked is only that
    they cannot swallow the lines clusterlab writes after them: quotes must close and the
    last line cannot continue onto the next one (a trailing backslash), and no here-document
    (``<<``) may start, since its body would be clusterlab's own lines."""
    example = "e.g. ['module load python/3.11', 'source ~/venv/bin/activate']"
    if value is None:
        return []
    if isinstance(value, str):
        lines: list[Any] = [value]
    elif isinstance(value, list | tuple):
        lines = list(value)
    else:
        raise ValueError(f"must be a list of shell lines, not {value!r:.40}: {example}")
    out: list[str] = []
    for line in lines:
        if not isinstance(line, str):
            raise ValueError(f"each setup line must be text, not {line!r:.40}: {example}")
        if "\0" in line:
            raise ValueError(f"setup lines cannot contain NUL characters: {example}")
        out.extend(part for part in LINE_BREAK_RE.split(line) if part.strip())
    problem = _unterminated("\n".join(out))
    if problem:
        raise ValueError(
            f"the setup lines do not end where they seem to ({problem}), so they would "
            "swallow the job script's own lines: close every quote, do not end the last "
            f"line with a backslash, and run here-documents from a script file, {example}"
        )
    return out


def _unterminated(block: str) -> str:
    """What in shell text would run on into the lines after it ('' when nothing): an
    unclosed quote, a trailing backslash, or a here-document (``<<``), read the way sh
    reads them (``#`` starts a comment only at the start of a word, outside quotes)."""
    quote, i = "", 0
    while i < len(block):
        ch = block[i]
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif ch == "\\":
            if i + 1 >= len(block):
                return "the last line ends with a backslash"
            i += 1  # the next character is taken literally
        elif quote == '"':
            quote = "" if ch == '"' else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or block[i - 1] in " \t\n;&|("):
            end = block.find("\n", i)
            i = len(block) if end < 0 else end
            continue
        elif block.startswith("<<", i):
            return "a here-document (<<)"
        i += 1
    return f"an unclosed {quote} quote" if quote else ""


_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
# Names the job script itself sets (backends/script.py); a job must not replace them.
_SCRIPT_VARS = {"JOB_DIR", "STATUS", "TASK", "code"}


def check_env(value: Any) -> dict[str, str]:
    """Environment variables for the job: names are shell identifiers, values one line of
    text (numbers are written as text). Values are data: the job script quotes them."""
    example = "e.g. {OMP_NUM_THREADS = '4', DATA = '/scratch/me/data'}"
    if value is None:
        return {}
    if isinstance(value, str):  # lines of NAME=VALUE, as a form types them
        value = value.splitlines()
    if isinstance(value, list | tuple):  # NAME=VALUE items, as the CLI and forms give them
        pairs: dict[str, Any] = {}
        for item in value:
            name, eq, val = str(item).strip().partition("=")
            if not eq:
                raise ValueError(f"{str(item)[:40]!r} is not NAME=VALUE: {example}")
            pairs[name.strip()] = val
        value = pairs
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a table of NAME = 'value', not {value!r:.40}: {example}")
    out: dict[str, str] = {}
    for name, val in value.items():
        if not isinstance(name, str) or not _ENV_NAME_RE.match(name):
            raise ValueError(
                f"{str(name)[:40]!r} is not a variable name: use letters, digits and '_', "
                f"not starting with a digit, {example}"
            )
        if name in _SCRIPT_VARS or name.startswith("CLUSTERLAB_"):
            raise ValueError(
                f"{name} is set by clusterlab's job script itself: choose another name"
            )
        if isinstance(val, bool) or not isinstance(val, str | int | float):
            raise ValueError(f"the value of {name} must be text or a number: {example}")
        text = str(val)
        if "\0" in text or LINE_BREAK_RE.search(text):
            raise ValueError(
                f"the value of {name} must be one line (no line breaks or NUL): {example}"
            )
        out[name] = text
    return out


def check_workdir(value: Any) -> str:
    """Where user code runs: empty (a ``work/`` dir of each job), an absolute path or one
    under the home directory (``~/...``), as :func:`check_remote_dir` accepts."""
    text = one_path(value, "~/project").strip()
    if text and not (text.startswith("/") or text == "~" or text.startswith("~/")):
        raise ValueError(
            f"{text[:40]!r} is a relative path: give an absolute path such as "
            "'/scratch/jdoe/project' or one under your home directory such as '~/project' "
            "(only '~/' is expanded, not $VARIABLES)"
        )
    return text.rstrip("/") if text not in ("/", "") else text


ENVIRONMENTS = ("existing", "sync")


def check_environment(value: Any) -> str:
    text = text_value(value, "existing").strip().lower() or "existing"
    if text not in ENVIRONMENTS:
        raise ValueError(
            "choose 'existing' (the cluster's Python as set up by python/setup) or 'sync' "
            "(a cached environment built from this kernel's packages)"
        )
    return text


def check_resources(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError("must be a table such as {cores = 4, memory = '8GB', time = '1:00:00'}")
    try:
        parse_resources(value)
    except ResourceError as exc:
        raise ValueError(str(exc)) from None
    return dict(value)


def resources_problem(value: Mapping[str, Any], scheduler: str) -> str:
    """What ``scheduler`` cannot do of a profile's (valid) resources, as the sentence it
    would be refused with at submission; '' when it can do all of it."""
    try:
        refuse_unsupported(parse_resources(value), scheduler)
    except ResourceError as exc:
        return str(exc)
    return ""


def check_non_negative(value: Any) -> int:
    n = _whole(value, "must be a whole number, e.g. 4 (0 means automatic)")
    if n < 0:
        raise ValueError("must be 0 (automatic) or more, e.g. 4")
    return n


def check_interval(value: Any) -> float:
    problem = "must be a number of seconds, e.g. 5"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(problem)
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(problem) from None
    if not 0.2 <= seconds <= 600:  # also refuses nan
        raise ValueError("must be between 0.2 and 600 seconds, e.g. 5")
    return seconds


def check_job_name(value: Any) -> str:
    """A job's name is one line of printable text (it shows in the queue and the ledger)."""
    text = str(value)
    if not text.strip() or len(text) > 200 or any(not ch.isprintable() for ch in text):
        raise ValueError(
            f"job name {text[:40]!r} is not usable: give one line of printable text, at most "
            "200 characters (e.g. name='train-resnet')"
        )
    return text


def remembering_file_problem(path: str) -> str:
    """Why ``path`` cannot keep what is appended to it ('' when it can): /dev/null, a
    device or a directory forgets, so trust-on-first-use there would trust everything."""
    if not path.strip():
        return "is empty"
    real = os.path.realpath(os.path.expanduser(path))
    if real == os.devnull:
        return "is /dev/null"
    if os.path.exists(real) and not os.path.isfile(real):
        return "is not a regular file"
    return ""


# -- kubernetes -------------------------------------------------------------------------------
