"""The Kubernetes manifests: golden files (what is submitted, exactly), refusals with a
sentence, the Secret's layout and size limit."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

import clusterlab as cl
from clusterlab.backends import k8s_manifest as mf
from clusterlab.backends.base import ArraySpec
from clusterlab.backends.kubernetes import KubernetesBackend, referenced_files
from clusterlab.common.errors import SubmitError
from clusterlab.transports import LocalTransport
from tests.unit.script_samples import JOB_DIR, golden, sample_spec


def backend(**fields: object) -> KubernetesBackend:
    profile = cl.Profile(
        name="t",
        scheduler="kubernetes",
        image="ghcr.io/me/clusterlab-py311:1.0",
        namespace="ml-jobs",
        service_account="clusterlab-runner",
        node_selector=["cloud.google.com/gke-nodepool=gpu-pool"],
        python="python3 -X faulthandler",
        **fields,  # type: ignore[arg-type]
    )
    return KubernetesBackend(profile, LocalTransport())


def manifest(**res: object) -> dict[str, object]:
    b = backend()
    return mf.job_manifest(sample_spec([], **res), b.target(JOB_DIR))


def test_job_matches_golden_files() -> None:
    res = {"cores": 4, "memory": "8GB", "time": "1:00:00", "gpus": 1}
    text = backend().job_script(sample_spec(["cl-x"], **res))
    assert text == golden("k8s_job.yaml", text)
    body = json.dumps(manifest(**res), indent=2) + "\n"
    assert body == golden("k8s_job.json", body)
    assert yaml.safe_load(text) == json.loads(body)  # the YAML shown is the body sent


def test_indexed_job_matches_golden_file() -> None:
    spec = sample_spec([], cores=1, time="10")
    spec.array = ArraySpec(tasks=200, max_concurrent=5)
    text = backend().job_script(spec)
    assert text == golden("k8s_indexed_job.yaml", text)
    job = yaml.safe_load(text)
    assert job["spec"]["completionMode"] == "Indexed"
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (200, 5)
    assert job["spec"]["backoffLimitPerIndex"] == 0  # one failed task does not stop the rest
    assert "backoffLimit" not in job["spec"]


def test_unthrottled_map_runs_every_task_at_once() -> None:
    spec = sample_spec([])
    spec.array = ArraySpec(tasks=7)
    assert mf.job_manifest(spec, backend().target(JOB_DIR))["spec"]["parallelism"] == 7


def test_resources_are_requests_and_limits_and_time_is_the_pod_deadline() -> None:
    job = manifest(cores=2, memory="512MB", time="0:30", gpus=2)
    pod = job["spec"]["template"]["spec"]  # type: ignore[index]
    res = pod["containers"][0]["resources"]
    assert res["requests"] == {"cpu": "2", "memory": "512Mi"}
    assert res["limits"] == {"cpu": "2", "memory": "512Mi", "nvidia.com/gpu": "2"}
    assert pod["activeDeadlineSeconds"] == 30
    defaults = manifest()["spec"]["template"]["spec"]  # type: ignore[index]
    assert defaults["containers"][0]["resources"] == {}
    assert "activeDeadlineSeconds" not in defaults


@pytest.mark.parametrize(
    ("res", "sentence"),
    [
        ({"partition": "gpu"}, "Kubernetes has no partitions"),
        ({"account": "proj"}, "Kubernetes has no accounts"),
        ({"nodes": 2}, "runs on one node"),
        ({"extra": ["--qos=high"]}, "Kubernetes takes no batch options"),
    ],
)
def test_what_kubernetes_lacks_is_refused_with_a_sentence(res: dict, sentence: str) -> None:
    with pytest.raises(ValueError, match=sentence):
        manifest(**res)


def test_the_pod_sees_the_job_dir_at_the_kernel_s_path() -> None:
    pod = manifest()["spec"]["template"]["spec"]  # type: ignore[index]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["jobs"]["mountPath"] == "/home/me/.clusterlab"
    assert mounts["payload"] == {
        "name": "payload",
        "mountPath": "/home/me/.clusterlab/.clusterlab-in",
        "readOnly": True,
    }
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["CLUSTERLAB_JOB_DIR"] == JOB_DIR
    command = pod["containers"][0]["command"]
    assert command == [
        "python3",
        "-X",
        "faulthandler",
        f"{mounts['payload']['mountPath']}/k8s_entry.py",
    ]


@pytest.mark.parametrize("root", ["/", "/usr", "/tmp", "/home"])
def test_a_job_root_that_would_hide_the_image_is_refused(root: str) -> None:
    spec = sample_spec([], job_dir=f"{root.rstrip('/')}/jobs/20261123-120000-abcdef")
    with pytest.raises(SubmitError, match="would be mounted over the image"):
        mf.job_manifest(spec, backend().target(spec.job_dir))


def test_a_python_under_the_job_root_is_refused() -> None:
    target = mf.Target("ns", "img", python=("/home/me/.clusterlab/venv/bin/python",))
    with pytest.raises(SubmitError, match="lies under the job directory root"):
        mf.job_manifest(sample_spec([]), target)


def test_names_are_dns_labels() -> None:
    assert mf.job_name(JOB_DIR) == "cl-20261123-120000-abcdef"
    assert mf.job_name("/x/jobs/20261123-120000-abcdef-3/") == "cl-20261123-120000-abcdef-3"
    long = mf.job_name("/x/jobs/" + "A_b" * 40)
    assert len(long) <= 63 and long == long.lower() and not long.endswith("-")


def test_the_secret_carries_files_under_valid_keys_and_says_where_they_go() -> None:
    files = {"fn.pkl": b"f", "items/3.pkl": b"i", "items/": b"", "results/": b"", "runner.py": b"r"}
    data = mf.pack(files, {"/home/me/.clusterlab/jobs/other/result.pkl": b"R"}, ["module x"], b"E")
    assert all(mf._KEY_RE.search(k) is None for k in data)
    config = json.loads(data[mf.CONFIG])
    assert config["files"]["items_3.pkl"] == "items/3.pkl"
    assert config["files"]["ref-0.pkl"] == "/home/me/.clusterlab/jobs/other/result.pkl"
    assert sorted(config["dirs"]) == ["items", "results"]
    assert config["setup"] == ["module x"]
    assert data[mf.ENTRY] == b"E"
    secret = mf.secret_manifest("cl-a", backend().target(JOB_DIR), data)
    assert secret["immutable"] is True and secret["type"] == "Opaque"
    assert "ownerReferences" not in secret["metadata"]  # made before its Job: linked after
    assert mf.owner_reference("cl-a", "uid-1")["uid"] == "uid-1"
    assert base64.b64decode(secret["data"]["items_3.pkl"]) == b"i"


def test_more_than_a_secret_holds_is_refused_with_a_sentence() -> None:
    mf.check_size({"payload.pkl": b"x" * 1_000_000}, {})
    with pytest.raises(SubmitError, match=r"Secret, which holds at most 1 MiB") as info:
        mf.check_size(
            {"payload.pkl": b"x" * 900_000, "ref-0.pkl": b"y" * 200_000}, {"p": b"y" * 200_000}
        )
    assert "results of earlier jobs" in str(info.value)
    assert "the largest: payload.pkl" in str(info.value)


def test_results_named_in_pickles_are_found(tmp_path) -> None:
    root = tmp_path / "root"
    dep = root / "jobs" / "dep"
    (dep / "results").mkdir(parents=True)
    (dep / "result.pkl").write_bytes(b"R")
    (dep / "results" / "7.pkl").write_bytes(b"S")
    job_dir = str(root / "jobs" / "me")
    pickled = (
        f"...{dep}/result.pkl...{dep}/results/7.pkl...{dep}/results/8.pkl...".encode()
        + f"{job_dir}/result.pkl".encode()
    )
    found = referenced_files(job_dir, {"payload.pkl": pickled, "runner.py": pickled})
    assert found == {f"{dep}/result.pkl": b"R", f"{dep}/results/7.pkl": b"S"}


@pytest.mark.parametrize(
    ("value", "text"),
    [("true", '"true"'), ("1", '"1"'), ("a: b", '"a: b"'), ("plain-word", "plain-word"), (3, "3")],
)
def test_yaml_scalars_are_quoted_when_yaml_would_misread_them(value: object, text: str) -> None:
    assert mf.to_yaml({"k": value}) == f"k: {text}\n"
    assert yaml.safe_load(mf.to_yaml({"k": value})) == {"k": value}


@pytest.mark.parametrize(
    ("asked", "says"),
    [
        ({"tasks": 4}, "cannot take tasks=4: a Kubernetes job is one pod, and clusterlab starts"),
        ({"nodes": 2}, "cannot take nodes=2: a Kubernetes job is one pod on one node"),
    ],
)
def test_tasks_and_nodes_are_refused_with_what_to_do(asked: dict, says: str) -> None:
    from clusterlab.config.resources import parse_resources, refuse_unsupported

    with pytest.raises(ValueError) as err:
        refuse_unsupported(parse_resources(asked), "kubernetes")
    assert (says in str(err.value) and "torch.multiprocessing.spawn" in str(err.value)) or (
        "nodes" in asked and "use a scheduler that spans nodes" in str(err.value)
    )
