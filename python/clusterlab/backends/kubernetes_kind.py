"""The ``kubernetes`` scheduler kind: a batch/v1 Job per call, an Indexed Job per map
(:mod:`.kubernetes`), with its profile fields (image, namespace, service account, node
selector, kubeconfig, context), their validators and the check that a profile names an
image. Registered in clusterlab's ``clusterlab.schedulers`` entry points."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from ..common.kinds import (
    ARRAYS,
    DEPENDENCIES,
    NODES,
    TASK_DEPENDENCIES,
    TASKS,
    THROTTLE,
    KindField,
    SchedulerKind,
)
from ..config.containerspec import registry_reference
from ..config.fieldmeta import meta
from ..config.validators import LINE_BREAK_RE, one_path, text_value

NAME = "kubernetes"

_IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*[A-Za-z0-9_]\Z|^[a-z0-9]\Z")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\Z")
_LABEL_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")
_LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z")


def check_image(value: Any) -> str:
    """A container image reference: [registry/]name[:tag][@digest]."""
    text = text_value(value, "python:3.11-slim").strip()
    if text and (not _IMAGE_RE.match(text) or len(text) > 512):
        raise ValueError(
            f"{text[:60]!r} is not an image reference: give [registry/]name[:tag], e.g. "
            "'ghcr.io/me/clusterlab-py311:1.0' (lower-case name, no spaces)"
        )
    return text


def check_namespace(value: Any) -> str:
    text = text_value(value, "ml-jobs").strip()
    if text and not _DNS_LABEL_RE.match(text):
        raise ValueError(
            f"{text[:70]!r} is not a namespace name: up to 63 lower-case letters, digits or "
            "'-', starting and ending with a letter or digit, e.g. 'ml-jobs'"
        )
    return text


def check_service_account(value: Any) -> str:
    text = text_value(value, "clusterlab-runner").strip()
    if text and not _DNS_SUBDOMAIN_RE.match(text):
        raise ValueError(
            f"{text[:70]!r} is not a service account name: lower-case letters, digits, '-' "
            "and '.', e.g. 'clusterlab-runner'"
        )
    return text


def _label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix)):
        return False
    return bool(_LABEL_NAME_RE.match(name))


def check_node_selector(value: Any) -> list[str]:
    """Node labels as 'key=value' lines; a dict ({'pool': 'gpu'}) is accepted too."""
    example = "e.g. ['cloud.google.com/gke-nodepool=gpu-pool'] or {'agentpool': 'gpu'}"
    if value is None:
        return []
    if isinstance(value, Mapping):
        pairs = [f"{k}={v}" for k, v in value.items()]
    elif isinstance(value, str):
        pairs = [p for p in LINE_BREAK_RE.split(value) if p.strip()]
    elif isinstance(value, list | tuple):
        pairs = list(value)
    else:
        raise ValueError(f"must be node labels as 'key=value' lines, {example}")
    out: list[str] = []
    for pair in pairs:
        if not isinstance(pair, str) or "=" not in pair:
            raise ValueError(f"{pair!r:.60} is not 'key=value': {example}")
        key, _, label = (part.strip() for part in pair.partition("="))
        if not _label_key(key) or not _LABEL_VALUE_RE.match(label):
            raise ValueError(
                f"{pair[:80]!r} is not a node label: keys are [prefix/]name and values up to "
                f"63 letters, digits, '-', '_' or '.', {example}"
            )
        out.append(f"{key}={label}")
    return out


def check_kubeconfig(value: Any) -> str:
    return one_path(value, "~/.kube/config")


def check_context(value: Any) -> str:
    text = text_value(value, "my-cluster").strip()
    if any(not ch.isprintable() for ch in text) or len(text) > 512:
        raise ValueError("give a context name as `kubectl config get-contexts` lists it")
    return text


IMAGE = KindField(
    "image",
    "str",
    field(
        default="",
        metadata=meta(
            "Container image",
            "The image every pod runs: python3 with cloudpickle and what your functions import, "
            "ideally the notebook's Python minor version (e.g. FROM python:3.11-slim plus "
            "'pip install cloudpickle numpy'), pushed where the cluster can pull it. The "
            "profile's 'container' does the same when this is empty.",
            "ghcr.io/me/clusterlab-py311:1.0",
            kinds=(NAME,),
            check=check_image,
        ),
    ),
)

NAMESPACE = KindField(
    "namespace",
    "str",
    field(
        default="",
        metadata=meta(
            "Namespace",
            "The Kubernetes namespace jobs run in (your team's, e.g. 'ml-jobs'). Empty means "
            "the namespace of the kubeconfig context, else 'default'.",
            "ml-jobs",
            kinds=(NAME,),
            check=check_namespace,
        ),
    ),
)

SERVICE_ACCOUNT = KindField(
    "service_account",
    "str",
    field(
        default="",
        metadata=meta(
            "Service account",
            "The service account pods run as (what cloud storage they may read: EKS IRSA, GKE "
            "Workload Identity). Empty means the namespace's 'default' account.",
            "clusterlab-runner",
            kinds=(NAME,),
            check=check_service_account,
        ),
    ),
)

NODE_SELECTOR = KindField(
    "node_selector",
    "list[str]",
    field(
        default_factory=list,
        metadata=meta(
            "Node selector",
            "Node labels a pod must match, one 'key=value' per line, e.g. a GPU node pool "
            "('cloud.google.com/gke-nodepool=gpu-pool', 'eks.amazonaws.com/nodegroup=gpu', "
            "'agentpool=gpu' on AKS). Empty means any node.",
            "kubernetes.io/arch=amd64",
            kinds=(NAME,),
            check=check_node_selector,
            widget="lines",
        ),
    ),
)

KUBECONFIG = KindField(
    "kubeconfig",
    "str",
    field(
        default="",
        metadata=meta(
            "Kubeconfig file",
            "The kubeconfig that reaches the cluster (its credentials are never copied). Empty "
            "means $KUBECONFIG, else ~/.kube/config, else the pod's own service account.",
            "~/.kube/config",
            kinds=(NAME,),
            check=check_kubeconfig,
        ),
    ),
)

CONTEXT = KindField(
    "context",
    "str",
    field(
        default="",
        metadata=meta(
            "Kubeconfig context",
            "Which cluster of the kubeconfig to use: a context name as `kubectl config "
            "get-contexts` lists it (EKS, GKE and AKS each add one when you fetch "
            "credentials). Empty means the kubeconfig's current context.",
            "arn:aws:eks:eu-west-1:123456789012:cluster/research",
            kinds=(NAME,),
            check=check_context,
        ),
    ),
)


def pod_image(profile: Any) -> str:
    """The image the pods run: ``image``, else the profile's ``container`` (the field every
    kind has; a profile moved to Kubernetes keeps working). :func:`check_profile` refuses a
    profile where both are set to different images."""
    return registry_reference(str(profile.image or profile.container))


def check_profile(profile: Any, errors: dict[str, str]) -> None:
    """A kubernetes profile runs nothing without an image; ``image`` and ``container``
    both name the pod's image, so they must not disagree."""
    if not pod_image(profile) and "image" not in errors:
        errors["image"] = (
            "a kubernetes profile needs the container image its pods run (with python3 "
            "and cloudpickle), e.g. 'ghcr.io/me/clusterlab-py311:1.0' (in 'image' or "
            "'container')"
        )
    container = profile.container
    if not container or "container" in errors:
        return
    if container.startswith(("/", "~/", "oci-archive:", "docker-archive:")):
        errors["container"] = (
            f"a pod pulls its image from a registry, so {container[:60]!r} (a file) cannot "
            "be a pod's image: push it to a registry the cluster can pull from (e.g. "
            "`podman push`) and give its reference, e.g. 'ghcr.io/me/clusterlab-py311:1.0'"
        )
    elif profile.image and profile.image != registry_reference(container):
        errors["container"] = (
            f"on Kubernetes 'image' and 'container' both name the pods' image, and they "
            f"differ ({profile.image!r} and {container!r}): keep one of them, or set both "
            "to the same image"
        )
    else:
        try:
            check_image(registry_reference(container))
        except ValueError as exc:
            errors["container"] = str(exc)


KIND = SchedulerKind(
    NAME,
    "Kubernetes",
    "a batch/v1 Job per call, an Indexed Job per map, in a kubeconfig context",
    "clusterlab.backends.kubernetes:KubernetesBackend",
    # no afterok in Kubernetes: dependents are held by the kernel (see docs)
    frozenset({ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES}),
    refusals={
        TASKS: "a Kubernetes job is one pod, and clusterlab starts no ranks across "
        "pods: leave tasks out and start the processes in the function (e.g. "
        "torch.multiprocessing.spawn, or mpirun/torchrun with launcher='none' on a "
        "batch scheduler), or use a scheduler that launches tasks (SLURM, Grid Engine, PBS)",
        NODES: "a Kubernetes job is one pod on one node: leave nodes out, or use a "
        "scheduler that spans nodes (SLURM, PBS)",
    },
    fields=(IMAGE, NAMESPACE, SERVICE_ACCOUNT, NODE_SELECTOR, KUBECONFIG, CONTEXT),
    check_profile=check_profile,
    runs_in_image=True,
    order=30,
    discovery="clusterlab.backends.k8s_discovery:discover",
)
