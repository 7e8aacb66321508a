"""The kubernetes profile fields: shown for kubernetes only, refused with a sentence."""

from __future__ import annotations

import pytest

import clusterlab as cl
from clusterlab.common import kinds as registry
from clusterlab.common.errors import ProfileError
from clusterlab.config.profile import schema

K8S_FIELDS = {"image", "namespace", "service_account", "node_selector", "kubeconfig", "context"}


def k8s(**fields: object) -> cl.Profile:
    values: dict[str, object] = {"name": "k", "scheduler": "kubernetes", "image": "python:3.11"}
    return cl.Profile(**{**values, **fields})  # type: ignore[arg-type]


def test_fields_show_for_kubernetes_only_with_tooltips() -> None:
    by_name = {f["name"]: f for f in schema()}
    for name in K8S_FIELDS:
        assert by_name[name]["kinds"] == ["kubernetes"], name
        assert len(by_name[name]["tooltip"]) > 60 and by_name[name]["example"], name
    assert "kubernetes" not in by_name["host"]["kinds"]  # no SSH: the API is the way in
    assert "kubernetes" in by_name["resources"]["kinds"]
    kind = registry.get("kubernetes")
    assert not kind.remote and registry.DEPENDENCIES in kind.features


def test_a_kubernetes_profile_needs_an_image() -> None:
    with pytest.raises(ProfileError, match="needs the container image") as info:
        cl.Profile(name="k", scheduler="kubernetes")
    assert info.value.field == "image"


def test_container_names_the_pods_image_when_image_is_empty() -> None:
    from clusterlab.backends.kubernetes_kind import pod_image

    p = cl.Profile(name="k", scheduler="kubernetes", container="ghcr.io/me/py311:1")
    assert pod_image(p) == "ghcr.io/me/py311:1"
    same = k8s(image="ghcr.io/me/py311:1", container="ghcr.io/me/py311:1")
    assert pod_image(same) == "ghcr.io/me/py311:1"
    assert pod_image(k8s()) == "python:3.11"
    hub = cl.Profile(name="k", scheduler="kubernetes", container="docker://python:3.11")
    assert pod_image(hub) == "python:3.11"  # a pod's image has no transport prefix
    assert pod_image(k8s(container="docker://python:3.11")) == "python:3.11"  # the same image


@pytest.mark.parametrize(
    ("container", "sentence"),
    [
        ("ghcr.io/me/other:2", "'image' and 'container' both name the pods' image"),
        ("~/images/py311.sif", "a pod pulls its image from a registry"),
        ("oci-archive:/shared/py311.tar", "push it to a registry the cluster can pull from"),
    ],
)
def test_a_container_that_cannot_be_the_pods_image_is_refused(
    container: str, sentence: str
) -> None:
    with pytest.raises(ProfileError, match=sentence) as info:
        k8s(container=container)
    assert info.value.field == "container"


def test_node_selector_takes_lines_or_a_dict() -> None:
    assert k8s(node_selector={"pool": "gpu"}).node_selector == ["pool=gpu"]
    assert k8s(node_selector="a.io/b=c\nd=e").node_selector == ["a.io/b=c", "d=e"]
    with pytest.raises(ProfileError, match="is not a node label"):
        k8s(node_selector=["pool=gpu node"])
    with pytest.raises(ProfileError, match="is not 'key=value'"):
        k8s(node_selector=["pool"])


@pytest.mark.parametrize(
    ("field", "value", "sentence"),
    [
        ("namespace", "ML_Jobs", "is not a namespace name"),
        ("service_account", "Runner!", "is not a service account name"),
        ("image", "my image:1", "is not an image reference"),
        ("kubeconfig", "-x", "starts with '-'"),
        ("host", "login.example.edu", "runs on this machine: leave host empty"),
    ],
)
def test_bad_values_are_refused_with_a_sentence(field: str, value: str, sentence: str) -> None:
    with pytest.raises(ProfileError, match=sentence):
        k8s(**{field: value})


def test_contexts_of_managed_clusters_are_accepted() -> None:
    for context in (
        "arn:aws:eks:eu-west-1:123456789012:cluster/research",
        "gke_my-project_europe-west4_research",
        "research-aks-admin",
    ):
        assert k8s(context=context).context == context
