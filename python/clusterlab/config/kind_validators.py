"""Validators of the profile fields that belong to one scheduler kind (PBS, Grid Engine,
Kubernetes); the shared ones are in :mod:`.validators`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .validators import LINE_BREAK_RE, one_path, text_field

PBS_FLAVORS = ("auto", "pro", "torque")


def check_pbs_flavor(value: Any) -> str:
    text = text_field(value, "auto").strip().lower() or "auto"
    if text not in PBS_FLAVORS:
        raise ValueError(
            "choose 'pro' (PBS Professional/OpenPBS), 'torque' (TORQUE) or 'auto' (ask "
            "`qstat --version`)"
        )
    return text


_SGE_PE_RE = re.compile(r"^[A-Za-z0-9_.*][A-Za-z0-9_.*-]{0,63}\Z")


def check_sge_pe(value: Any) -> str:
    """A Grid Engine parallel environment name (``qconf -spl``), wildcards allowed."""
    text = text_field(value, "smp").strip() or "smp"
    if not _SGE_PE_RE.match(text):
        raise ValueError(
            "give the name of a parallel environment as `qconf -spl` lists it, e.g. 'smp' "
            "(letters, digits, '_', '.', '-', '*')"
        )
    return text


def check_sge_settings(value: Any) -> str:
    """Empty, or the path of Grid Engine's settings.sh on the cluster (absolute or ~/)."""
    example = "/opt/sge/default/common/settings.sh"
    text = one_path(value, example).strip()
    if text and not (text.startswith("/") or text.startswith("~/")):
        raise ValueError(
            f"{text[:40]!r} is a relative path: give the full path of the settings file, "
            f"$SGE_ROOT/$SGE_CELL/common/settings.sh, e.g. {example!r}"
        )
    return text


_IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*[A-Za-z0-9_]\Z|^[a-z0-9]\Z")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\Z")
_LABEL_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")
_LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z")


def check_image(value: Any) -> str:
    """A container image reference: [registry/]name[:tag][@digest]."""
    text = text_field(value, "python:3.11-slim").strip()
    if text and (not _IMAGE_RE.match(text) or len(text) > 512):
        raise ValueError(
            f"{text[:60]!r} is not an image reference: give [registry/]name[:tag], e.g. "
            "'ghcr.io/me/clusterlab-py311:1.0' (lower-case name, no spaces)"
        )
    return text


def check_namespace(value: Any) -> str:
    text = text_field(value, "ml-jobs").strip()
    if text and not _DNS_LABEL_RE.match(text):
        raise ValueError(
            f"{text[:70]!r} is not a namespace name: up to 63 lower-case letters, digits or "
            "'-', starting and ending with a letter or digit, e.g. 'ml-jobs'"
        )
    return text


def check_service_account(value: Any) -> str:
    text = text_field(value, "clusterlab-runner").strip()
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
    text = text_field(value, "my-cluster").strip()
    if any(not ch.isprintable() for ch in text) or len(text) > 512:
        raise ValueError("give a context name as `kubectl config get-contexts` lists it")
    return text
