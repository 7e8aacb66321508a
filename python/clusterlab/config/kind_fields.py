"""Profile fields that apply to one scheduler kind only (PBS, Kubernetes, Grid Engine), kept out of
:mod:`.profile` so the schema reads as one line per field there. Each function returns
the ``dataclasses.field`` of the same name, metadata (label, tooltip, example, kinds,
check, widget) included.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from . import kind_validators
from .fieldmeta import meta as _meta


def pbs_flavor() -> Any:
    return field(
        default="auto",
        metadata=_meta(
            "PBS flavor",
            "Which PBS the cluster runs: 'pro' (PBS Professional or OpenPBS: qsub -J, "
            "select=), 'torque' (TORQUE/Moab: qsub -t, nodes=N:ppn=C), or 'auto' to ask "
            "`qstat --version` once when the profile is first used.",
            "auto",
            kinds=("pbs",),
            check=kind_validators.check_pbs_flavor,
            widget="choice",
            choices=kind_validators.PBS_FLAVORS,
        ),
    )


def image() -> Any:
    return field(
        default="",
        metadata=_meta(
            "Container image",
            "The image every pod runs: python3 with cloudpickle and what your functions import, "
            "ideally the notebook's Python minor version (e.g. FROM python:3.11-slim plus "
            "'pip install cloudpickle numpy'), pushed where the cluster can pull it.",
            "ghcr.io/me/clusterlab-py311:1.0",
            kinds=("kubernetes",),
            check=kind_validators.check_image,
        ),
    )


def namespace() -> Any:
    return field(
        default="",
        metadata=_meta(
            "Namespace",
            "The Kubernetes namespace jobs run in (your team's, e.g. 'ml-jobs'). Empty means "
            "the namespace of the kubeconfig context, else 'default'.",
            "ml-jobs",
            kinds=("kubernetes",),
            check=kind_validators.check_namespace,
        ),
    )


def service_account() -> Any:
    return field(
        default="",
        metadata=_meta(
            "Service account",
            "The service account pods run as (what cloud storage they may read: EKS IRSA, GKE "
            "Workload Identity). Empty means the namespace's 'default' account.",
            "clusterlab-runner",
            kinds=("kubernetes",),
            check=kind_validators.check_service_account,
        ),
    )


def node_selector() -> Any:
    return field(
        default_factory=list,
        metadata=_meta(
            "Node selector",
            "Node labels a pod must match, one 'key=value' per line, e.g. a GPU node pool "
            "('cloud.google.com/gke-nodepool=gpu-pool', 'eks.amazonaws.com/nodegroup=gpu', "
            "'agentpool=gpu' on AKS). Empty means any node.",
            "kubernetes.io/arch=amd64",
            kinds=("kubernetes",),
            check=kind_validators.check_node_selector,
            widget="lines",
        ),
    )


def kubeconfig() -> Any:
    return field(
        default="",
        metadata=_meta(
            "Kubeconfig file",
            "The kubeconfig that reaches the cluster (its credentials are never copied). Empty "
            "means $KUBECONFIG, else ~/.kube/config, else the pod's own service account.",
            "~/.kube/config",
            kinds=("kubernetes",),
            check=kind_validators.check_kubeconfig,
        ),
    )


def context() -> Any:
    return field(
        default="",
        metadata=_meta(
            "Kubeconfig context",
            "Which cluster of the kubeconfig to use: a context name as `kubectl config "
            "get-contexts` lists it (EKS, GKE and AKS each add one when you fetch "
            "credentials). Empty means the kubeconfig's current context.",
            "arn:aws:eks:eu-west-1:123456789012:cluster/research",
            kinds=("kubernetes",),
            check=kind_validators.check_context,
        ),
    )


def sge_pe() -> Any:
    return field(
        default="smp",
        metadata=_meta(
            "Parallel environment",
            "The Grid Engine parallel environment that keeps a job's cores on one host: a "
            "job asking for cores=N is submitted with `-pe NAME N`. Often 'smp'; `qconf -spl` "
            "lists your cluster's and its documentation says which one to use.",
            "smp",
            kinds=("sge",),
            check=kind_validators.check_sge_pe,
        ),
    )


def sge_settings() -> Any:
    return field(
        default="",
        metadata=_meta(
            "Grid Engine settings file",
            "$SGE_ROOT/$SGE_CELL/common/settings.sh on the cluster, sourced before every "
            "qsub, qstat, qacct and qdel: a command over SSH does not read your login files, "
            "so it may not find Grid Engine or may talk to another cell. Empty: the "
            "commands run with the environment the login (or this machine) gives them.",
            "/opt/sge/default/common/settings.sh",
            kinds=("sge",),
            check=kind_validators.check_sge_settings,
        ),
    )
