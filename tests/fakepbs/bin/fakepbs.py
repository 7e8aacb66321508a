"""fakepbs: a FAKE PBS Professional for tests (no PBS server can be installed on Debian).

``qsub``, ``qstat`` and ``qdel`` next to this module speak PBS Pro's dialect closely
enough for clusterlab's PBS backend, and REALLY run jobs: qsub starts a detached
supervisor process per job (or array) that waits for the job's dependencies, runs the
script with ``/bin/sh`` in its own process group (subjobs of an array under the
array's ``%N`` throttle), enforces walltime and records the exit status. All state lives
under ``$FAKEPBS_HOME`` (one JSON file per job, replaced atomically, changed under a
per-job ``flock``), so the jobs of many tests may run at once. Python 3 stdlib only.

Behaviour copied from PBS Professional (man pages and source of openpbs/openpbs):
ids ``123.fakepbs``, arrays ``124[].fakepbs`` with subjobs ``124[3].fakepbs``; job_state
letters Q H R B E F X with the OGSA-BES substates 91 (terminated), 92 (finished) and 93
(failed); ``Exit_status`` -29 for walltime (JOB_EXEC_KILL_WALLTIME), 256+signal for a
job killed by a signal; an ``afterok`` dependent of a job that did not succeed is
deleted by the server (F, no Exit_status); dependencies name whole arrays only
(``124[]``); output is spooled and copied to ``-o``/``-e`` only when the job ends; the
error texts and exit codes of unknown (15001 -> 153) and finished (15139 -> 35) jobs.
Deviations: jobs inherit qsub's environment (like ``qsub -V``); one queue, ``workq``;
no node model (nothing waits for cores); afterok is the only dependency type.
``FAKEPBS_NGPUS=N`` gives the node N GPUs, under the name ``FAKEPBS_GPU_RESOURCE`` (default
``ngpus``; another is a site-defined chunk resource, as a site's resourcedef adds one).

``FAKEPBS_FLAVOR=torque`` speaks TORQUE 6 instead (Adaptive Computing's TORQUE docs:
qsub/qstat/qdel man pages, "Job Arrays", "Job Exit Status"): ``qsub -t 0-9%N`` arrays
with ``PBS_ARRAYID``, ``-l nodes=N:ppn=C[:gpus=G]``, ``afterok:`` for jobs and
``afterokarray:ID[]`` for arrays, ``qstat -f -1`` text (``Job Id:`` then ``attr = value``),
``qstat --version`` printing ``Version: 6.1.3``, finished jobs shown as ``C`` with
``exit_status`` (-11 for walltime, 256+signal) while kept (``keep_completed``; with
``FAKEPBS_HISTORY=0`` they vanish at once), subjobs over the slot limit held with hold type
``l``, and ``qdel`` of a finished job refused with "Invalid state for job - COMPLETE".
"""

from __future__ import annotations

import contextlib
import fcntl
import getopt
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time

SERVER = "fakepbs"
TORQUE = os.environ.get("FAKEPBS_FLAVOR", "pro") == "torque"
VERSION = (
    "Version: 6.1.3\nCommit: fakepbs (a fake TORQUE for tests)"
    if TORQUE
    else "pbs_version = 2022.1.0 (fakepbs: a fake PBS Professional for tests)"
)
QUEUES = ("workq",)
MAX_ARRAY_SIZE = 10000  # PBS_MAX_ARRAY_JOB_DFL
TICK = 0.05
UNKNOWN, HISTORY = 15001 % 256, 15139 % 256  # PBSE_UNKJOBID, PBSE_HISTJOBID as exit codes
ID_RE = re.compile(r"^(\d+)(\[(\d*)\])?(?:\.([A-Za-z0-9_.-]+))?$")
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.+-]{0,229}$")  # check_job_name() with -N
SIZE_RE = re.compile(r"^\d+([kmgt]?[bw])?$", re.IGNORECASE)
RESOURCES = (
    ("nodes", "walltime", "ncpus", "mem", "pmem", "vmem")
    if TORQUE
    else ("select", "place", "walltime", "ncpus", "mem", "ngpus")
)
WALLTIME_CODE = -11 if TORQUE else -29  # TORQUE's walltime exit_status, PBS Pro's KILL_WALLTIME
END_JOB, END_SUB = ("C", "C") if TORQUE else ("F", "X")  # how a finished (sub)job shows


def gpu_resource() -> str:
    """The name this site gives its GPUs (PBS's built-in ngpus unless told otherwise)."""
    return os.environ.get("FAKEPBS_GPU_RESOURCE") or "ngpus"


class Refused(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# -- state ------------------------------------------------------------------------------------
def home() -> str:
    path = os.environ.get("FAKEPBS_HOME", "")
    if not path:
        sys.exit("fakepbs: set FAKEPBS_HOME to the state directory of this fake PBS server")
    os.makedirs(os.path.join(path, "jobs"), exist_ok=True)
    return path


def _path(seq: int | str, ext: str) -> str:
    return os.path.join(home(), "jobs", f"{seq}.{ext}")


def load(seq: int | str) -> dict | None:
    try:
        with open(_path(seq, "json")) as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return None


def save(job: dict) -> None:
    tmp = _path(job["seq"], f"json.{os.getpid()}")
    with open(tmp, "w") as fh:
        json.dump(job, fh)
    os.replace(tmp, _path(job["seq"], "json"))


class locked:
    """``with locked(seq) as job:`` read-modify-write one job under its flock."""

    def __init__(self, seq: int | str) -> None:
        self.seq = seq

    def __enter__(self) -> dict | None:
        self.fh = open(_path(self.seq, "lock"), "a")
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        self.job = load(self.seq)
        self.before = json.dumps(self.job)
        return self.job

    def __exit__(self, *exc: object) -> None:
        if self.job is not None and exc[0] is None and json.dumps(self.job) != self.before:
            self.job["mtime"] = time.time()
            save(self.job)
        self.fh.close()


def next_seq() -> int:
    with open(os.path.join(home(), "seq.lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        seq = int(fh.read().strip() or 0) + 1
        fh.seek(0)
        fh.truncate()
        fh.write(str(seq))
        return seq


def parse_id(text: str) -> tuple[int, int | None, bool]:
    """``(seq, index or None, is the whole array)``; Refused for malformed or foreign ids."""
    m = ID_RE.match(text)
    if not m or m.group(4) not in (None, SERVER):
        raise Refused(f"illegally formed job identifier: {text}", 1)
    index = m.group(3)
    return int(m.group(1)), int(index) if index else None, m.group(2) == "[]"


def job_id(seq: int, index: int | None = None, array: bool = False) -> str:
    if index is not None:
        return f"{seq}[{index}].{SERVER}"
    return f"{seq}[].{SERVER}" if array else f"{seq}.{SERVER}"


def finished(rec: dict) -> bool:
    return rec["state"] in ("F", "X", "C")


# -- qsub -------------------------------------------------------------------------------------
def parse_resources(texts: list[str]) -> dict:
    """``-l`` lists: walltime ([[H:]M:]S) and select chunks (``N:ncpus=C:mem=M+...``)."""
    res: dict = dict(item.partition("=")[::2] for text in texts for item in text.split(","))
    for key, value in res.items():
        if key not in RESOURCES:
            raise Refused(f"Unknown resource Resource_List.{key}", 2)
        if not value or (key == "mem" and not SIZE_RE.match(value)):
            raise Refused("illegal -l value", 2)
    if "walltime" in res:
        if not re.match(r"^\d+(:\d+){0,2}$", res["walltime"]):
            raise Refused("illegal -l value", 2)
        res["walltime_s"] = sum(
            int(p) * 60**i for i, p in enumerate(reversed(res["walltime"].split(":")))
        )
    ncpus = 0
    for chunk in res["nodes"].split("+") if "nodes" in res else []:  # TORQUE: N:ppn=C:gpus=G
        count, *specs = chunk.split(":")
        spec = dict(item.partition("=")[::2] for item in specs)
        if not count.isdigit() or set(spec) - {"ppn", "gpus"}:
            raise Refused(f"illegal -l value (nodes={res['nodes']})", 2)
        ncpus += int(count) * int(spec.get("ppn", "1"))
    for chunk in res["select"].split("+") if "select" in res else []:
        count, *specs = chunk.split(":") if chunk[:1].isdigit() else ["1", *chunk.split(":")]
        spec = dict(item.partition("=")[::2] for item in specs)
        # built-in chunk resources (mpiprocs: MPI ranks per chunk, tasks= asks for them)
        known = {"ncpus", "mem", "ngpus", "mpiprocs", "ompthreads", "host", "vnode"}
        known.add(gpu_resource())  # a site-defined GPU resource is a chunk resource too
        if not count.isdigit() or set(spec) - known:
            raise Refused(f"Unknown resource in select={res['select']}", 2)
        ncpus += int(count) * int(spec.get("ncpus", "1"))
    res["ncpus"] = int(res.get("ncpus", ncpus or 1))
    return res


def directive_args(script: str) -> list[str]:
    """Arguments of the ``#PBS`` lines before the first command (PBS stops there)."""
    args: list[str] = []
    for line in script.splitlines()[1:] if script.startswith("#!") else script.splitlines():
        if line.startswith("#PBS"):
            args += shlex.split(line[4:], comments=False)
        elif line.strip() and not line.lstrip().startswith("#"):
            break
    return args


OPTS = "A:e:j:l:m:M:N:o:P:q:r:t:v:VW:z" if TORQUE else "A:e:J:j:l:m:M:N:o:P:q:r:v:VW:z"


def parse_options(argv: list[str]) -> tuple[dict, list[str]]:
    try:
        pairs, rest = getopt.getopt(argv, OPTS)
    except getopt.GetoptError as exc:
        raise Refused(
            f"{exc.msg} (fakepbs implements -{' -'.join(OPTS.replace(':', ''))})", 2
        ) from None
    opts: dict = {"l": [], "W": []}
    for key, value in pairs:
        k = key[1:]
        if k in ("l", "W"):
            opts[k].append(value)
        else:
            opts.setdefault(k, value)
    return opts, rest


def qsub(argv: list[str]) -> int:
    opts, rest = parse_options(argv)
    if len(rest) != 1:
        raise Refused("usage: qsub [options] script (fakepbs needs a script file)", 2)
    with open(rest[0]) as fh:
        script = fh.read()
    directives, _ = parse_options(directive_args(script))
    for key, value in directives.items():  # the command line wins over #PBS lines
        if key in ("l", "W"):
            opts[key] = value + opts[key]
        else:
            opts.setdefault(key, value)
    workdir = os.getcwd()
    name = opts.get("N", os.path.basename(rest[0]))
    if "N" in opts and not NAME_RE.match(name):
        raise Refused("illegal -N value", 2)
    queue = opts.get("q", QUEUES[0])
    if queue not in QUEUES:
        raise Refused("Unknown queue", 1)
    res = parse_resources(opts["l"])
    array = None
    max_run = None
    if "t" in opts:  # TORQUE: -t 0-9%N, or one index
        rng, _, limit = opts["t"].partition("%")
        m = re.match(r"^(\d+)(?:-(\d+))?$", rng)
        if not m or (m.group(2) and int(m.group(1)) > int(m.group(2))):
            raise Refused("illegal -t value", 2)
        array = [int(m.group(1)), int(m.group(2) or m.group(1)), 1]
        if limit:
            if not limit.isdigit() or int(limit) < 1:
                raise Refused("illegal -t value", 2)
            max_run = int(limit)
    if "J" in opts:
        rng, _, limit = opts["J"].partition("%")
        m = re.match(r"^(\d+)-(\d+)(?::(\d+))?$", rng)
        if not m or int(m.group(1)) >= int(m.group(2)) or (m.group(3) and int(m.group(3)) < 1):
            raise Refused("illegal -J value", 2)
        array = [int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)]
        if len(range(array[0], array[1] + 1, array[2])) > MAX_ARRAY_SIZE:
            raise Refused("Array job exceeds server or queue size limit", 1)
        if limit:
            if not limit.isdigit() or int(limit) < 1:
                raise Refused("illegal -J value", 2)
            max_run = int(limit)
    depend: list[str] = []
    for w in opts["W"]:
        items: list[str] = []
        for item in w.split(","):  # a dependency list goes on after its commas
            if "=" not in item and items and items[-1].startswith("depend="):
                items[-1] += f",{item}"
            else:
                items.append(item)
        for item in items:
            key, _, value = item.partition("=")
            if key == "depend":
                kinds = ("afterok", "afterokarray") if TORQUE else ("afterok",)
                for part in value.split(","):  # TORQUE: afterok:1.s,afterokarray:2[].s
                    kind, _, ids = part.partition(":")
                    if kind not in kinds or not ids:
                        raise Refused(
                            f"fakepbs implements depend={'|'.join(kinds)}, not {part!r}", 2
                        )
                    for dep in ids.split(":"):
                        _seq, index, whole = parse_id(dep)
                        if index is not None:  # depend_on_que(): "[]" only, never a subjob
                            raise Refused("Invalid request", 1)
                        if TORQUE and whole != (kind == "afterokarray"):
                            raise Refused(f"illegal -W value: {kind} with {dep}", 2)
                        depend.append(dep if "." in dep else f"{dep}.{SERVER}")
            elif key == "max_run_subjobs" and value.isdigit():
                max_run = int(value)
            else:
                raise Refused("illegal -W value", 2)
    if max_run is not None and array is None:
        raise Refused("max_run_subjobs can only be set on an array job", 1)
    join = opts.get("j", "n")
    seq = next_seq()
    suffix = ".^array_index^" if array else ""

    def out_path(opt: str, kind: str) -> str:  # [host:]path, relative to the submit dir
        path = opts.get(opt, f"{name}.{kind}{seq}{suffix}").split(":", 1)[-1]
        return os.path.join(workdir, path)

    now = time.time()
    job = {
        "seq": seq,
        "id": job_id(seq, array=array is not None),
        "name": name,
        "owner": f"{os.environ.get('USER', 'root')}@{socket.gethostname()}",
        "queue": queue,
        "account": opts.get("A"),
        "project": opts.get("P", "_pbs_project_default"),
        "res": res,
        "depend": depend,
        "join": join,
        "out": out_path("o", "o"),
        "err": out_path("e", "e"),
        "workdir": workdir,
        "argv": argv,
        "array": array,
        "max_run": max_run,
        "state": "H" if depend else "Q",
        "substate": 22 if depend else 10,
        "ctime": now,
        "qtime": now,
        "mtime": now,
        "sub": {},
    }
    if array:
        for i in range(array[0], array[1] + 1, array[2]):
            job["sub"][str(i)] = {"state": job["state"], "substate": job["substate"]}
    with open(_path(seq, "sh"), "w") as fh:
        fh.write(script)
    save(job)
    with open(_path(seq, "supervisor.log"), "w") as log:
        subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "_supervise", str(seq)],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=os.environ.get("HOME", "/"),
        )
    if "z" not in opts:
        print(job["id"])
    return 0


# -- the supervisor: dependencies, throttle, run, walltime, exit status --------------------------
def depends_ok(job: dict) -> bool | None:
    """True when every afterok dependency succeeded, False when one never will."""
    for dep in job["depend"]:
        seq, _, _ = parse_id(dep)
        rec = load(seq)
        if rec is None or rec.get("terminated") or (finished(rec) and rec.get("exit_status") != 0):
            return False
        if not finished(rec):
            return None
    return True


def start(job: dict, index: int | None) -> subprocess.Popen:
    tag = f"{job['seq']}" if index is None else f"{job['seq']}.{index}"
    env = dict(os.environ)
    env.update(
        PBS_JOBID=job_id(job["seq"], index) if index is not None else job["id"],
        PBS_JOBNAME=job["name"],
        PBS_QUEUE=job["queue"],
        PBS_O_QUEUE=job["queue"],
        PBS_O_WORKDIR=job["workdir"],
        PBS_O_HOME=os.environ.get("HOME", "/"),
        PBS_O_HOST=socket.gethostname(),
        PBS_ENVIRONMENT="PBS_BATCH",
        NCPUS=str(job["res"]["ncpus"]),
        OMP_NUM_THREADS=str(job["res"]["ncpus"]),
    )
    if index is not None:
        if TORQUE:
            env.update(PBS_ARRAYID=str(index))
        else:
            env.update(PBS_ARRAY_INDEX=str(index), PBS_ARRAY_ID=job["id"])
    spool = os.path.join(home(), "jobs", tag)
    with open(f"{spool}.OU", "wb") as out, open(f"{spool}.ER", "wb") as err:
        return subprocess.Popen(
            ["/bin/sh", _path(job["seq"], "sh")],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out if job["join"] == "oe" else err,
            env=env,
            cwd=os.environ.get("HOME", "/"),
            start_new_session=True,  # its own process group: qdel kills the group
        )


def deliver(job: dict, index: int | None) -> None:
    """Copy the spooled output to -o/-e now that the job ended (PBS does not stream)."""
    tag = f"{job['seq']}" if index is None else f"{job['seq']}.{index}"
    for kind, dest in (("OU", job["out"]), ("ER", job["err"])):
        spool = os.path.join(home(), "jobs", f"{tag}.{kind}")
        if not os.path.exists(spool):
            continue
        dest = dest.replace("^array_index^", str(index))
        try:
            with open(spool, "rb") as src, open(dest, "wb") as dst:
                dst.write(src.read())
        except OSError as exc:
            print(f"fakepbs: could not deliver {spool} to {dest}: {exc}", file=sys.stderr)


def hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def run_comment(job: dict) -> str:
    when = time.strftime("%a %b %d at %H:%M")
    return f"Job run at {when} on ({SERVER}:ncpus={job['res']['ncpus']})"


def end_record(rec: dict, code: int, sub: bool) -> None:
    """Record how a (sub)job ended, as PBS's history shows it."""
    rec["exit_status"] = code
    rec["state"] = END_SUB if sub else END_JOB
    rec["substate"] = 91 if rec.get("terminated") else (93 if code else 92)
    rec["obittime"] = time.time()
    rec["used_walltime"] = hms(time.time() - rec.get("stime", time.time()))
    end = {WALLTIME_CODE: "exceeded resource walltime", 91: "terminated", 93: "failed"}
    word = end.get(code) or end.get(rec["substate"], "finished")
    rec["comment"] = f"{rec.get('comment', '')} and {word}"


def supervise(seq: int) -> int:
    kill_delay = float(os.environ.get("FAKEPBS_KILL_DELAY", "2"))
    with locked(seq) as job:
        assert job is not None
        job["supervisor"] = os.getpid()
    while job["depend"]:
        ok = depends_ok(job)
        with locked(seq) as job:
            if job is None or finished(job):
                return 0
            if ok is False:  # PBS deletes the dependent: job_abt(), msg_registerdel
                job.update(state=END_JOB, substate=92, obittime=time.time())
                for sub in job["sub"].values():
                    sub.update(state=END_SUB, substate=92)
                return 0
            if ok:
                job.update(state="Q", substate=10, depend_done=True)
                for sub in job["sub"].values():
                    sub.update(state="Q", substate=10)
                break
        time.sleep(TICK)
    procs: dict[str, tuple[subprocess.Popen, float]] = {}  # "" for a job, else the index
    killed: dict[str, float] = {}  # when we (or qdel) first signalled it
    overtime: set[str] = set()
    limit = job["res"].get("walltime_s")
    while True:
        with locked(seq) as job:
            assert job is not None
            if job["array"] is None and job["state"] == "Q" and not job.get("terminated"):
                procs[""] = (start(job, None), time.time())
                job.update(state="R", substate=42, stime=time.time(), pgid=procs[""][0].pid)
                job["comment"] = run_comment(job)
            elif job["array"] is not None and not job.get("terminated"):
                running = [k for k, s in job["sub"].items() if s["state"] == "R"]
                queued = [k for k, s in job["sub"].items() if s["state"] == "Q"]
                room = len(queued) if job["max_run"] is None else job["max_run"] - len(running)
                for k in queued[: max(0, room)]:
                    procs[k] = (start(job, int(k)), time.time())
                    job["sub"][k].update(
                        state="R", substate=42, stime=time.time(), pgid=procs[k][0].pid
                    )
                    job["sub"][k]["comment"] = run_comment(job)
                    job.update(state="B", substate=70, stime=job.get("stime") or time.time())
                throttled = "Not Running: Number of concurrent running subjobs limit reached"
                for k in queued[max(0, room) :]:
                    job["sub"][k]["comment"] = throttled
            for key, (proc, started) in list(procs.items()):
                rec = job if key == "" else job["sub"][key]
                code = proc.poll()
                if code is None:
                    if limit and time.time() - started > limit and key not in overtime:
                        overtime.add(key)  # mom: "walltime N exceeded limit M", SIGKILL
                        _signal(proc.pid, signal.SIGTERM)
                        killed[key] = time.time()
                    elif rec.get("terminated") and key not in killed:
                        killed[key] = time.time()  # qdel sent SIGTERM itself
                    if key in killed and time.time() - killed[key] > kill_delay:
                        _signal(proc.pid, signal.SIGKILL)
                    continue
                del procs[key]
                code = 256 - code if code < 0 else code  # killed by signal N: 256 + N
                if key in overtime:
                    code = WALLTIME_CODE
                    spool = os.path.join(home(), "jobs", f"{seq}{'.' + key if key else ''}.ER")
                    with open(spool if job["join"] != "oe" else spool[:-2] + "OU", "a") as fh:
                        used, lim = int(time.time() - started), int(limit or 0)
                        fh.write(f"=>> PBS: job killed: walltime {used} exceeded limit {lim}\n")
                end_record(rec, code, sub=key != "")
                deliver(job, int(key) if key else None)
            if job["array"] is not None and all(finished(s) for s in job["sub"].values()):
                codes = [s["exit_status"] for s in job["sub"].values() if "exit_status" in s]
                if codes:  # "non-zero if any subjob has non-zero exit status"
                    job["exit_status"] = 2 if min(codes) < 0 else int(any(codes))
                job.update(state=END_JOB, obittime=time.time())
                ended = [s["substate"] for s in job["sub"].values() if s["substate"] in (91, 93)]
                job["substate"] = 91 if job.get("terminated") else (ended[0] if ended else 92)
                return 0
            if job["array"] is None and finished(job):
                return 0
        time.sleep(TICK)


def _signal(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# -- qstat ------------------------------------------------------------------------------------
def _time(t: float | None) -> str | None:
    return time.ctime(t) if t else None


def attributes(job: dict, index: int | None) -> dict:
    """One job's attributes the way ``qstat -f -F json`` prints them."""
    rec = job if index is None else job["sub"][str(index)]
    res = {k: v for k, v in job["res"].items() if not k.endswith("_s")}
    res.setdefault("select", f"1:ncpus={res['ncpus']}")
    out = {
        "Job_Name": job["name"],
        "Job_Owner": job["owner"],
        "job_state": rec["state"],
        "queue": job["queue"],
        "server": SERVER,
        "Checkpoint": "u",
        "ctime": _time(job["ctime"]),
        "Error_Path": f"{socket.gethostname()}:{job['err']}",
        "Hold_Types": "s" if rec["state"] == "H" else "n",
        "Join_Path": job["join"],
        "Keep_Files": "n",
        "mtime": _time(job["mtime"]),
        "Output_Path": f"{socket.gethostname()}:{job['out']}",
        "Priority": 0,
        "qtime": _time(job["qtime"]),
        "Rerunable": "True",
        "Resource_List": res,
        "stime": _time(rec.get("stime")),
        "substate": rec["substate"],
        "Variable_List": {"PBS_O_WORKDIR": job["workdir"], "PBS_O_QUEUE": job["queue"]},
        "comment": rec.get("comment"),
        "Exit_status": rec.get("exit_status"),
        "obittime": _time(rec.get("obittime")),
        "Submit_arguments": shlex.join(job["argv"]),
        "project": job["project"],
        "Account_Name": job["account"],
        "depend": ":".join(["afterok", *[f"{d}@{SERVER}" for d in job["depend"]]])
        if job["depend"] and not job.get("depend_done")
        else None,
    }
    if rec.get("stime"):
        out["exec_host"] = f"{SERVER}/0*{job['res']['ncpus']}"
        out["resources_used"] = {
            "walltime": rec.get("used_walltime", hms(time.time() - rec["stime"]))
        }
    if job["array"] and index is None:
        a, b, step = job["array"]
        counts = {s: sum(1 for x in job["sub"].values() if x["state"] == s) for s in "QRX"}
        left = [k for k, s in job["sub"].items() if s["state"] == "Q"]
        out.update(
            array="True",
            array_indices_submitted=f"{a}-{b}" + (f":{step}" if step > 1 else ""),
            array_indices_remaining=",".join(left) or "-",
            array_state_count=f"Queued:{counts['Q']} Running:{counts['R']} Exiting:0 "
            f"Expired:{counts['X']} ",
            max_run_subjobs=job["max_run"],
        )
    elif index is not None:
        out.update(array_id=job["id"], array_index=index)
    return {k: v for k, v in out.items() if v is not None}


def _qstat_lookup(text: str, keep_finished: bool) -> tuple[dict, int, int | None, bool, str] | None:
    """The job ``text`` names, or None once said on stderr the way this flavor's qstat says
    it (a finished job is unknown unless the server keeps finished jobs)."""
    try:
        seq, index, whole = parse_id(text)
    except Refused as exc:
        print(f"qstat: {exc}", file=sys.stderr)
        return None
    job = load(seq)
    full = job_id(seq, index, whole)
    if (
        job is None
        or bool(job["array"]) != (whole or index is not None)
        or (index is not None and str(index) not in job["sub"])
        or (finished(job) and not keep_finished)
    ):
        print(f"qstat: Unknown Job Id{' Error' if TORQUE else ''} {full}", file=sys.stderr)
        return None
    return job, seq, index, whole, full


def torque_attributes(job: dict, index: int | None) -> dict:
    """One job's attributes as TORQUE's ``qstat -f -1`` prints them (flat, lower-case
    ``exit_status``; dependency and slot-limit waits are holds)."""
    pro = attributes(job, index)
    rec = job if index is None else job["sub"][str(index)]
    pro_only = {"Resource_List", "Variable_List", "Exit_status", "substate", "array_id"}
    pro_only |= {"array_index", "project", "resources_used"}
    out = {k: v for k, v in pro.items() if k not in pro_only}
    for key, value in pro.get("Resource_List", {}).items():
        if key != "select":
            out[f"Resource_List.{key}"] = value
    state = rec["state"]
    if state == "Q" and job.get("max_run") and str(rec.get("comment", "")).startswith("Not Run"):
        state, out["Hold_Types"] = "H", "l"  # over the array's slot limit
        out.pop("comment", None)
    out["job_state"] = state
    if "exit_status" in rec:
        out["exit_status"] = rec["exit_status"]
    if index is not None:
        out["job_array_id"] = index
    return out


def qstat_torque(argv: list[str]) -> int:
    try:
        pairs, ids = getopt.getopt(argv, "f1tB")
    except getopt.GetoptError as exc:
        raise Refused(f"{exc.msg} (the fake TORQUE implements -f -1 -t -B)", 2) from None
    flags = {k for k, _ in pairs}
    if not {"-f", "-1"} <= flags:
        raise Refused("the fake TORQUE prints only the long one-line form: qstat -f -1", 2)
    keep = os.environ.get("FAKEPBS_HISTORY", "1") == "1"  # keep_completed > 0
    if "-B" in flags:
        print(f"Server: {SERVER}\n    server_state = Active")
        print(f"    max_job_array_size = {MAX_ARRAY_SIZE}")
        return 0
    rc = 0
    blocks: list[tuple[str, dict]] = []
    if not ids:
        names = sorted(os.listdir(os.path.join(home(), "jobs")))
        ids = [j["id"] for n in names if n.endswith(".json") and (j := load(n[:-5]))]
    for text in ids:
        found = _qstat_lookup(text, keep)
        if found is None:
            rc = UNKNOWN
            continue
        job, seq, index, whole, full = found
        if index is not None:
            blocks.append((full, torque_attributes(job, index)))
        elif whole and "-t" in flags:
            blocks += [(job_id(seq, int(k)), torque_attributes(job, int(k))) for k in job["sub"]]
        else:
            blocks.append((job["id"], torque_attributes(job, None)))
    for native, attrs in blocks:
        print(f"Job Id: {native}")
        for key, value in attrs.items():
            print(f"    {key} = {value}")
        print()
    return rc


def qstat(argv: list[str]) -> int:
    if argv == ["--version"]:
        print(VERSION)
        return 0
    if TORQUE:
        return qstat_torque(argv)
    try:
        pairs, ids = getopt.getopt(argv, "fF:xtBQ")
    except getopt.GetoptError as exc:
        raise Refused(f"{exc.msg} (fakepbs implements -f -F json -x -t -B -Q)", 2) from None
    flags = {k for k, _ in pairs}
    if ("-F", "json") not in pairs or "-f" not in flags:
        raise Refused("fakepbs prints only the long JSON form: qstat -f -F json", 2)
    history = os.environ.get("FAKEPBS_HISTORY", "1") == "1"  # job_history_enable
    doc: dict = {"timestamp": int(time.time()), "pbs_version": VERSION.split()[2]}
    doc["pbs_server"] = SERVER
    if "-B" in flags:
        doc["Server"] = {
            SERVER: {
                "server_state": "Active",
                "default_queue": QUEUES[0],
                "job_history_enable": "True" if history else "False",
                "max_array_size": MAX_ARRAY_SIZE,
            }
        }
        return _print(doc)
    if "-Q" in flags:
        doc["Queue"] = {q: queue_attributes(q) for q in QUEUES}
        return _print(doc)
    if "-x" in flags and not history:
        print("qstat: PBS is not configured to maintain job history", file=sys.stderr)
        return 0
    rc = 0
    jobs: dict = {}
    if not ids:  # every job (finished ones with -x)
        names = sorted(os.listdir(os.path.join(home(), "jobs")))
        listed = [j for n in names if n.endswith(".json") and (j := load(n[:-5]))]
        ids = [j["id"] for j in listed if "-x" in flags or not finished(j)]
    for text in ids:
        found = _qstat_lookup(text, history)
        if found is None:
            rc = UNKNOWN
            continue
        job, seq, index, whole, full = found
        if finished(job) and "-x" not in flags:
            print(
                f"qstat: {full} Job has finished, use -x or -H to obtain historical job "
                "information",
                file=sys.stderr,
            )
            rc = HISTORY
            continue
        if index is None:
            jobs[job["id"]] = attributes(job, None)
        if index is not None or (whole and "-t" in flags):
            for k in [str(index)] if index is not None else job["sub"]:
                jobs[job_id(seq, int(k))] = attributes(job, int(k))
    if jobs:
        doc["Jobs"] = jobs
    _print(doc)
    return rc


def _live_jobs() -> list[dict]:
    names = sorted(os.listdir(os.path.join(home(), "jobs")))
    return [j for n in names if n.endswith(".json") and (j := load(n[:-5])) and not finished(j)]


def queue_attributes(queue: str) -> dict:
    """``qstat -Qf -F json`` of one queue, as PBS Pro prints it (resources_max only when
    ``FAKEPBS_MAX_WALLTIME`` sets the queue's walltime limit)."""
    jobs = _live_jobs()
    count = {s: sum(1 for j in jobs if j["state"] == s) for s in "QHWRE"}
    doc: dict = {
        "queue_type": "Execution",
        "total_jobs": len(jobs),
        "state_count": f"Transit:0 Queued:{count['Q']} Held:{count['H']} Waiting:{count['W']} "
        f"Running:{count['R']} Exiting:{count['E']} Begun:0 ",
        "resources_assigned": {"ncpus": _assigned_ncpus(jobs), "nodect": 0},
        "hasnodes": "True",
        "enabled": "True",
        "started": "True",
    }
    if os.environ.get("FAKEPBS_MAX_WALLTIME"):
        doc["resources_max"] = {"walltime": os.environ["FAKEPBS_MAX_WALLTIME"]}
    return doc


def _assigned_ncpus(jobs: list[dict]) -> int:
    return sum(j["res"]["ncpus"] for j in jobs if j["state"] == "R")


def _node() -> tuple[str, int, int]:
    """The fake's one node: the host's short name, its CPUs and memory in MiB
    (``FAKEPBS_NCPUS``/``FAKEPBS_MEM_MB`` override them)."""
    ncpus = int(os.environ.get("FAKEPBS_NCPUS") or os.cpu_count() or 1)
    mem = os.environ.get("FAKEPBS_MEM_MB")
    if not mem:
        with open("/proc/meminfo") as fh:
            kb = next(int(line.split()[1]) for line in fh if line.startswith("MemTotal:"))
        mem = str(kb // 1024)
    return socket.gethostname().split(".")[0], ncpus, int(mem)


def pbsnodes(argv: list[str]) -> int:
    """``pbsnodes -a -F json`` as PBS Pro prints it, for the fake's one node."""
    if "-a" not in argv or "json" not in argv:
        raise Refused("fakepbs prints only pbsnodes -a -F json", 2)
    if TORQUE:
        raise Refused("pbsnodes: -F is not an option of TORQUE's pbsnodes", 2)
    name, ncpus, mem = _node()
    used = _assigned_ncpus(_live_jobs())
    doc: dict = {"timestamp": int(time.time()), "pbs_version": VERSION.split()[2]}
    doc["pbs_server"] = SERVER
    doc["nodes"] = {
        name: {
            "Mom": name,
            "Port": 15002,
            "pbs_version": VERSION.split()[2],
            "ntype": "PBS",
            "state": "job-busy" if used >= ncpus else "free",
            "pcpus": ncpus,
            "resources_available": {
                "arch": "linux",
                "host": name,
                "mem": f"{mem}mb",
                "ncpus": ncpus,
                gpu_resource(): int(os.environ.get("FAKEPBS_NGPUS", "0")),
                "vnode": name,
            },
            "resources_assigned": {"mem": "0kb", "ncpus": used, "vmem": "0kb"},
            "resv_enable": "True",
            "sharing": "default_shared",
        }
    }
    return _print(doc)


def _print(doc: dict) -> int:
    print(json.dumps(doc, indent=4))
    return 0


# -- qdel -------------------------------------------------------------------------------------
def qdel(argv: list[str]) -> int:
    rc = 0
    for text in [a for a in argv if not a.startswith("-")]:
        try:
            seq, index, whole = parse_id(text)
        except Refused as exc:
            print(f"qdel: {exc}", file=sys.stderr)
            rc = 1
            continue
        full = job_id(seq, index, whole)
        with locked(seq) as job:
            if (
                job is None
                or bool(job["array"]) != (whole or index is not None)
                or (index is not None and str(index) not in job["sub"])
            ):
                print(f"qdel: Unknown Job Id {full}", file=sys.stderr)
                rc = UNKNOWN
                continue
            targets = [job] if index is None else [job["sub"][str(index)]]
            if finished(targets[0]):
                if TORQUE:  # PBSE_BADSTATE
                    print(f"qdel: Invalid state for job - COMPLETE {full}", file=sys.stderr)
                    rc = 15018 % 256
                else:
                    print(f"qdel: Job has finished {full}", file=sys.stderr)
                    rc = HISTORY
                continue
            if index is None and job["array"]:
                targets += [s for s in job["sub"].values() if not finished(s)]
            for rec in targets:
                rec["terminated"] = True
                if rec["state"] in ("Q", "H"):  # never started: gone at once
                    rec.update(state=END_SUB if rec is not job else END_JOB, substate=91)
                    rec["obittime"] = time.time()
                elif rec.get("pgid"):
                    _signal(rec["pgid"], signal.SIGTERM)
            if job["array"] and all(finished(s) for s in job["sub"].values()):
                job.update(state=END_JOB, substate=91, obittime=time.time())
    return rc


def shutdown() -> None:
    """Kill every supervisor and job of this FAKEPBS_HOME (a test fixture's teardown)."""
    for name in os.listdir(os.path.join(home(), "jobs")):
        if name.endswith(".json") and (job := load(name[:-5])):
            try:  # only our own supervisor, should its pid have been reused
                with open(f"/proc/{job.get('supervisor', 0)}/cmdline", "rb") as fh:
                    if b"_supervise" in fh.read():
                        os.kill(job["supervisor"], signal.SIGKILL)
            except OSError:
                pass
            for rec in [job, *job["sub"].values()]:
                if rec.get("pgid") and not finished(rec):
                    _signal(rec["pgid"], signal.SIGKILL)


def main(tool: str, argv: list[str]) -> int:
    try:
        if tool == "_supervise":
            return supervise(int(argv[0]))
        if tool == "_shutdown":
            shutdown()
            return 0
        return {"qsub": qsub, "qstat": qstat, "qdel": qdel, "pbsnodes": pbsnodes}[tool](argv)
    except Refused as exc:
        print(f"{tool}: {exc}", file=sys.stderr)
        return exc.code
    except (OSError, ValueError) as exc:  # e.g. a script that is not there, ncpus=abc
        print(f"{tool}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
