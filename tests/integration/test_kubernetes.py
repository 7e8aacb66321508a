"""The Kubernetes backend end to end against tests/fakek8s (a FAKE API server whose pods
are local processes): what the conformance suite does not cover, because only Kubernetes
has it (contexts, namespaces, OOMKilled and evicted pods, Secrets, RBAC, cleanup)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.common.errors import SubmitError
from clusterlab.core.runtime import get_runtime

from ..fakek8s import FakeKube, unshare_works

pytestmark = [pytest.mark.fakek8s, pytest.mark.timeout(300)]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeKube]:
    problem = unshare_works()
    if problem:
        pytest.skip(f"fakek8s gives each pod private mounts and cannot here: {problem}")
    server = FakeKube(tmp_path / "fakek8s")
    yield server
    server.stop()


def profile(fake: FakeKube, tmp_path: Path, name: str = "k8s", **fields: object) -> cl.Profile:
    values: dict[str, object] = {
        "name": name,
        "scheduler": "kubernetes",
        "image": "python:3.11-slim",
        "python": sys.executable,
        "kubeconfig": fake.kubeconfig,
        "remote_dir": str(tmp_path / "k8sjobs"),
        "poll_interval": 1,
    }
    p = cl.Profile(**{**values, **fields})  # type: ignore[arg-type]
    cl.profiles.save(p)
    return p


def until(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_each_poll_lists_pods_once(fake: FakeKube, tmp_path: Path) -> None:
    p = profile(fake, tmp_path)
    f = cl.cluster(p.name)(lambda x: (time.sleep(0.5), x)[1])
    job, arr = f.submit(1), f.map(range(6), chunksize=1, max_concurrent=2)
    assert job.result(timeout=120) == 1 and arr.results(timeout=120) == list(range(6))
    watcher = get_runtime(p).watcher
    pod_lists = fake.count("GET", "/pods")
    assert pod_lists == watcher.polls  # ONE label-selected pod list per poll, no more
    assert fake.count("GET", "/jobs") <= watcher.polls
    selectors = {q.get("labelSelector") for m, path, q in fake.calls if path.endswith("/pods")}
    assert len(selectors) == 1 and "app.kubernetes.io/managed-by=clusterlab" in selectors.pop()


def test_the_context_picks_cluster_user_and_namespace(fake: FakeKube, tmp_path: Path) -> None:
    p = profile(fake, tmp_path, context="fake-b")  # fake-b: an exec credential plugin
    assert cl.cluster(p.name)(abs).submit(-3).result(timeout=120) == 3
    paths = {path for _, path, _ in fake.calls if "/namespaces/" in path}
    assert paths and all("/namespaces/team-b/" in path for path in paths)
    q = profile(fake, tmp_path, name="ns", namespace="default")  # the profile's namespace wins
    assert cl.cluster(q.name)(abs).submit(-4).result(timeout=120) == 4
    assert any("/namespaces/default/" in path for _, path, _ in fake.calls)


def test_results_back_then_job_and_secret_deleted(fake: FakeKube, tmp_path: Path) -> None:
    p = profile(fake, tmp_path)
    job = cl.cluster(p.name)(lambda: "done").submit()
    assert job.result(timeout=120) == "done"
    until(lambda: not fake.objects("jobs", "team-a"), "the Job to be deleted")
    until(lambda: not fake.objects("secrets", "team-a"), "its Secret to be collected")
    deletes = [q for m, path, q in fake.calls if m == "DELETE" and "/jobs/" in path]
    assert deletes and all(q.get("propagationPolicy") == "Background" for q in deletes)
    text = job.job_script()
    assert f"name: {job.native_id}" in text and "# its Secret" in text and "runner.py: " in text
    assert "uid: " in text  # the Secret is owned by the Job it was created for


def test_oomkilled_pod(fake: FakeKube, tmp_path: Path) -> None:
    p = profile(fake, tmp_path)

    def hog() -> int:
        blob = bytearray(400 * 1024 * 1024)
        time.sleep(30)
        return len(blob)

    job = cl.cluster(p.name, memory="150MB")(hog).submit()
    with pytest.raises(cl.JobError, match="FAILED: out of memory"):
        job.result(timeout=120)
    assert job.state == cl.JobState.FAILED


def test_evicted_pod(fake: FakeKube, tmp_path: Path) -> None:
    p = profile(fake, tmp_path)
    job = cl.cluster(p.name)(time.sleep).submit(300)
    until(lambda: job.state == cl.JobState.RUNNING, "the job to run")
    pod = fake.objects("pods", "team-a")[0]["metadata"]["name"]
    api = get_runtime(p).backend.api  # type: ignore[attr-defined]
    api.request("POST", f"/fakek8s/evict/team-a/{pod}")
    with pytest.raises(cl.JobError, match="FAILED: evicted: its node ran short of memory"):
        job.result(timeout=120)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"node_selector": ["pool=gpu"]}, "waiting for a node with room for it (Kubernetes says"),
        ({"image": "does-not-exist:1"}, "cannot pull the image does-not-exist:1"),
    ],
)
def test_pending_pods_say_why(fake: FakeKube, tmp_path: Path, fields: dict, reason: str) -> None:
    p = profile(fake, tmp_path, **fields)
    job = cl.cluster(p.name)(abs).submit(-1)
    until(lambda: reason in job.reason, f"the reason {reason!r}")
    assert job.state == cl.JobState.PENDING
    assert job.cancel() and job.state == cl.JobState.CANCELLED
    until(lambda: not fake.objects("pods", "team-a"), "its pod to be deleted")


def test_too_big_for_a_secret_is_refused_before_anything_is_created(
    fake: FakeKube, tmp_path: Path
) -> None:
    p = profile(fake, tmp_path)
    with pytest.raises(SubmitError, match="Secret, which holds at most 1 MiB"):
        cl.cluster(p.name)(len).submit(b"x" * 1_040_000).result(timeout=60)
    with pytest.raises(SubmitError, match="holds at most 1 MiB"):  # a stored large argument
        cl.cluster(p.name)(len).submit(b"x" * 3_000_000).result(timeout=60)
    assert not fake.objects("jobs", "team-a") and not fake.objects("secrets", "team-a")


def test_pool_mode_is_refused(fake: FakeKube, tmp_path: Path) -> None:
    p = profile(fake, tmp_path)
    with pytest.raises(SubmitError, match="Kubernetes pods share none: map with chunksize="):
        cl.cluster(p.name)(abs).map(range(4), workers=2)


def test_a_result_too_big_for_the_log_says_so(fake: FakeKube, tmp_path: Path) -> None:
    p = profile(fake, tmp_path)
    job = cl.cluster(p.name)(lambda: b"x" * (4 * 1024 * 1024)).submit()
    with pytest.raises(ValueError, match="more than a Kubernetes pod can send back"):
        job.result(timeout=120)


def test_output_is_live(fake: FakeKube, tmp_path: Path) -> None:
    p = profile(fake, tmp_path)

    def talk() -> None:
        print("first", flush=True)
        time.sleep(300)

    job = cl.cluster(p.name)(talk).submit()
    until(lambda: "first" in job.stdout(), "the first line while it runs")
    assert job.state == cl.JobState.RUNNING
    job.cancel()


def test_held_dependent_is_created_only_when_its_dependency_completed(
    fake: FakeKube, tmp_path: Path
) -> None:
    p = profile(fake, tmp_path)
    first = cl.cluster(p.name)(lambda: (time.sleep(3), 20)[1]).submit()
    second = cl.cluster(p.name)(lambda v: v + 1).submit(first)
    until(lambda: second.reason == "waiting for the jobs it depends on", "the held reason")
    names = {j["metadata"]["name"] for j in fake.objects("jobs", "team-a")}
    assert second.native_id not in names  # held by the kernel: Kubernetes has no afterok
    assert second.result(timeout=120) == 21


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        ("forbid", "does not let you do this in namespace 'team-a' (403 Forbidden"),
        ("namespace", "the namespace 'nowhere' does not exist on this cluster"),
        ("token", "the API server refused your credentials (401 Unauthorized"),
    ],
)
def test_api_refusals_are_sentences(
    fake: FakeKube, tmp_path: Path, change: str, sentence: str
) -> None:
    fields: dict[str, object] = {}
    if change == "forbid":
        fake.forbid("alice", "create", "jobs")
    elif change == "namespace":
        fields["namespace"] = "nowhere"
    else:
        fake.users.pop("Bearer alice-token")
    p = profile(fake, tmp_path, **fields)
    with pytest.raises(cl.ClusterlabError, match=sentence.replace("(", r"\(")):
        cl.cluster(p.name)(abs).submit(-1).result(timeout=60)
    report = cl.profiles.check(p.name)
    assert not report.ok and sentence in str(report)


def test_check_runs_the_image(fake: FakeKube, tmp_path: Path) -> None:
    p = profile(fake, tmp_path)
    report = cl.profiles.check(p.name)
    assert report.ok, str(report)
    lines = {line.name: line.detail for line in report.lines}
    assert (
        "Kubernetes v1.33.0-fakek8s" in lines["scheduler"]
        and "namespace team-a" in lines["scheduler"]
    )
    assert lines["python"].startswith(f"{sys.executable} is Python")
    assert not fake.objects("jobs", "team-a")  # the probe Job is gone


def test_the_profiles_container_is_the_pods_image(fake: FakeKube, tmp_path: Path) -> None:
    """``container`` (the field every kind has) names the pod's image when ``image`` is
    empty: the pod runs that image as it is (no podman or apptainer wrapped inside it)."""
    p = profile(fake, tmp_path, image="", container="ghcr.io/me/clusterlab-py311:1.0")
    waiting = cl.cluster(p.name)(time.sleep).submit(300)
    until(lambda: waiting.state == cl.JobState.RUNNING, "the job to run")
    (pod,) = fake.objects("pods", "team-a")
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "ghcr.io/me/clusterlab-py311:1.0"
    assert container["command"][0] == sys.executable  # the image's python, not an engine
    waiting.cancel()
    assert cl.cluster(p.name)(abs).submit(-5).result(timeout=120) == 5
    script = waiting.job_script()
    assert 'image: "ghcr.io/me/clusterlab-py311:1.0"' in script and "podman" not in script


def test_profile_show_script_prints_the_manifest(
    fake: FakeKube, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from clusterlab.ui.cli import main

    p = profile(fake, tmp_path, resources={"cores": 2, "memory": "1GB"})
    assert main(["profile", "show", p.name, "--script", "--map", "4"]) == 0
    out = capsys.readouterr().out
    assert "kind: Job" in out and "completionMode: Indexed" in out and 'cpu: "2"' in out


def test_a_held_job_too_big_at_release_fails_with_the_sentence(
    fake: FakeKube, tmp_path: Path
) -> None:
    p = profile(fake, tmp_path)
    big = cl.cluster(p.name)(lambda: b"x" * 1_100_000).submit()
    uses = cl.cluster(p.name)(len).submit(big)  # big's result travels in uses' Secret
    with pytest.raises(cl.JobError, match="results of earlier jobs it reads"):
        uses.result(timeout=120)
    assert big.result() == b"x" * 1_100_000 and uses.state == cl.JobState.FAILED


def test_more_running_pods_than_one_poll_reads(
    fake: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clusterlab.backends import k8s_watch

    monkeypatch.setattr(k8s_watch, "LIVE_PODS", 1)  # live log reads per poll
    p = profile(fake, tmp_path)
    arr = cl.cluster(p.name)(lambda x: (time.sleep(4), x)[1]).map(range(4), chunksize=1)
    until(lambda: arr.counts().get("RUNNING") == 4, "every pod to show as running")
    assert arr.results(timeout=120) == [0, 1, 2, 3]
    assert all(j.host for j in arr)  # every task's log was read in the end


def test_logs_that_cannot_be_read_end_the_job_with_a_sentence(
    fake: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLUSTERLAB_LOST_GRACE", "1")
    fake.forbid("alice", "get", "pods/log")
    p = profile(fake, tmp_path)
    job = cl.cluster(p.name)(abs).submit(-1)
    with pytest.raises(cl.JobError, match="its pod's log could not be read .*403 Forbidden"):
        job.result(timeout=120)
    assert job.state == cl.JobState.LOST


def test_an_unknown_context_is_refused_with_the_way_to_list_them(
    fake: FakeKube, tmp_path: Path
) -> None:
    p = profile(fake, tmp_path, context="research")
    with pytest.raises(cl.ClusterlabError, match="with context 'research'.*get-contexts"):
        cl.cluster(p.name)(abs).submit(-1).result(timeout=60)  # the refusal reaches the job


def test_without_the_client_library_the_fix_is_said(
    fake: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clusterlab.backends import k8s_api

    monkeypatch.setitem(sys.modules, "kubernetes.client", None)  # as if not installed
    api = k8s_api.KubeApi(fake.kubeconfig)
    with pytest.raises(cl.ClusterlabError, match=r"pip install 'clusterlab\[kubernetes\]'"):
        api.request("GET", "/version")


def _as_cotenant(fake: FakeKube, resource: str, body: dict) -> int:
    """POST ``body`` as another user of the namespace (bob, allowed to create): the status."""
    import json as _json
    import urllib.error
    import urllib.request

    group = "/apis/batch/v1" if resource == "jobs" else "/api/v1"
    req = urllib.request.Request(  # noqa: S310 - the loopback fake
        f"{fake.url}{group}/namespaces/team-a/{resource}",
        data=_json.dumps(body).encode(),
        headers={"Authorization": "Bearer bob-token", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback fake
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _planted_entry(marker: Path) -> str:
    """What a co-tenant's planted code would do: leave a mark (and could forge frames)."""
    import base64

    code = f"open({str(marker)!r}, 'w').write('ran')\n"
    return base64.b64encode(code.encode()).decode()


def test_a_cotenant_cannot_plant_the_jobs_secret(fake: FakeKube, tmp_path: Path) -> None:
    """A co-tenant who sees our Job appear and creates Secret cl-<id> first would choose
    the code our pod runs; the Secret is created before the Job, so their create fails."""
    marker = tmp_path / "planted-code-ran"
    answers: list[int] = []

    def react(kind: str, obj: dict) -> None:
        if kind != "jobs" or obj["metadata"]["labels"].get("app.kubernetes.io/managed-by") is None:
            return
        name = obj["metadata"]["name"]
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "data": {"k8s_entry.py": _planted_entry(marker)},
        }
        answers.append(_as_cotenant(fake, "secrets", secret))

    fake.on_create = react
    p = profile(fake, tmp_path)
    assert cl.cluster(p.name)(abs).submit(-5).result(timeout=120) == 5
    assert answers == [409]  # ours was there first
    assert not marker.exists()


def test_a_job_planted_under_our_name_is_refused_never_adopted(
    fake: FakeKube, tmp_path: Path
) -> None:
    marker = tmp_path / "planted-code-ran"

    def react(kind: str, obj: dict) -> None:
        if kind != "secrets" or "app.kubernetes.io/managed-by" not in obj["metadata"].get(
            "labels", {}
        ):
            return
        name = obj["metadata"]["name"]
        _as_cotenant(
            fake,
            "secrets",
            {"metadata": {"name": f"{name}-x"}, "data": {"e.py": _planted_entry(marker)}},
        )
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "job",
                                "image": "evil",
                                "command": [sys.executable, "/in/e.py"],
                                "volumeMounts": [{"name": "s", "mountPath": "/in"}],
                            }
                        ],
                        "volumes": [{"name": "s", "secret": {"secretName": f"{name}-x"}}],
                    }
                }
            },
        }
        _as_cotenant(fake, "jobs", job)

    fake.on_create = react
    p = profile(fake, tmp_path)
    job = cl.cluster(p.name)(abs).submit(-6)
    with pytest.raises(SubmitError, match=r"a Job named cl-\S+ already exists .* did not create"):
        job.result(timeout=120)
    assert job.state == cl.JobState.FAILED
    ours = [
        s for s in fake.objects("secrets", "team-a") if not s["metadata"]["name"].endswith("-x")
    ]
    assert ours == []  # our Secret is not left behind
    planted = fake.objects("jobs", "team-a")
    assert len(planted) == 1  # theirs is left alone: never deleted, never watched
    fake.on_create = None


def test_a_secret_planted_before_a_held_job_is_released_is_refused(
    fake: FakeKube, tmp_path: Path
) -> None:
    """A held job's name is known (its Job is listed by nobody yet, but the id is in
    notebooks and logs): a Secret planted under it before release is never used."""
    marker = tmp_path / "planted-code-ran"
    p = profile(fake, tmp_path)
    first = cl.cluster(p.name)(lambda: (time.sleep(3), 1)[1]).submit()
    held = cl.cluster(p.name)(abs).submit(-2, after=[first])
    until(lambda: held.reason == "waiting for the jobs it depends on", "the held reason")
    name = held.native_id
    secret = {"metadata": {"name": name}, "data": {"k8s_entry.py": _planted_entry(marker)}}
    assert _as_cotenant(fake, "secrets", secret) == 201
    assert first.result(timeout=120) == 1
    with pytest.raises(cl.ClusterlabError, match=rf"a Secret named {name} already exists"):
        held.result(timeout=120)
    assert not marker.exists()
    assert [j["metadata"]["name"] for j in fake.objects("jobs", "team-a")] in (
        [],
        [first.native_id],
    )


def test_a_pod_planted_with_our_labels_is_not_read(fake: FakeKube, tmp_path: Path) -> None:
    """A co-tenant who sees our pod creates one with the same labels whose log forges a
    failed status. Only pods owned by the Job this job created are read: the job's own
    result comes back."""
    import base64
    import threading

    forged = b'{"event": "started", "time": 1}\n{"event": "finished", "outcome": "error"}\n'
    frame = f"@cl1 status 0 {base64.b64encode(forged).decode()}"
    p = profile(fake, tmp_path)
    job = cl.cluster(p.name)(lambda: (time.sleep(4), "mine")[1]).submit()
    planted: list[int] = []

    def plant() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ours = [
                o
                for o in fake.objects("pods", "team-a")
                if o["metadata"].get("labels", {}).get("clusterlab.io/job") == job.native_id
            ]
            if ours:
                time.sleep(1.2)  # creation times have whole seconds: ours is older
                labels = {
                    k: v
                    for k, v in ours[0]["metadata"]["labels"].items()
                    if k.startswith(("app.kubernetes.io", "clusterlab.io"))
                }
                pod = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"{job.native_id}-planted", "labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "job",
                                "image": "evil",
                                "command": [sys.executable, "-c", f"print({frame!r})"],
                            }
                        ],
                    },
                }
                planted.append(_as_cotenant(fake, "pods", pod))
                return
            time.sleep(0.05)

    thread = threading.Thread(target=plant, daemon=True)
    thread.start()
    assert job.result(timeout=120) == "mine"
    thread.join(10)
    assert planted == [201]


def test_the_jobs_of_a_kernel_that_never_returns_expire(fake: FakeKube, tmp_path: Path) -> None:
    """A kernel submits and is killed: nobody watches its Job, which stayed in the
    namespace until some process watched it again. ttlSecondsAfterFinished lets Kubernetes
    delete it (with its pods and Secret); a later cl.job(id) ends it with a sentence."""
    import json
    import os
    import signal
    import subprocess

    p = profile(fake, tmp_path)
    script = (
        "import json, sys, time\n"
        "import clusterlab as cl\n"
        "from clusterlab.backends import k8s_manifest\n"
        "k8s_manifest.JOB_TTL = 2  # seconds, for this test\n"
        f"job = cl.cluster({p.name!r})(abs).submit(-8)\n"
        "while job.state == cl.JobState.SUBMITTING: time.sleep(0.02)\n"
        "print(json.dumps(job.id), flush=True)\n"
        "time.sleep(600)\n"
    )
    kernel = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert kernel.stdout is not None
    job_id = json.loads(kernel.stdout.readline())
    kernel.send_signal(signal.SIGKILL)
    kernel.wait()
    until(lambda: bool(fake.objects("jobs", "team-a")), "the Job to be created")
    job = fake.objects("jobs", "team-a")[0]
    assert job["spec"]["ttlSecondsAfterFinished"] == 2
    until(lambda: not fake.objects("jobs", "team-a"), "the finished Job to expire", 60)
    until(lambda: not fake.objects("secrets", "team-a"), "its Secret to go with it", 60)
    again = cl.job(job_id)
    with pytest.raises(cl.ClusterlabError):
        again.result(timeout=120)
    assert again.state.finished and again.reason
