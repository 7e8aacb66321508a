"""Content-addressed large arguments, through the real local transport."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import cloudpickle
import pytest

import clusterlab as cl
from clusterlab.core import blobs
from clusterlab.core.blobs import BlobStore
from clusterlab.transports import get_transport


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    transport = get_transport(cl.Profile(name="b", scheduler="local"))
    return BlobStore(transport, str(tmp_path / "blobs"))


def test_large_arguments_become_references_small_ones_stay(store: BlobStore) -> None:
    big, small = os.urandom(2 * 1024 * 1024), b"tiny"
    args, kwargs, refs, pending = store.externalize([big, small], {"k": big, "n": 3}, {})
    assert args == [None, small] and kwargs == {"k": None, "n": 3}
    (name,) = pending  # the same content is stored once
    path = f"{store.root}/{name}"
    assert refs == {
        "args": {"0": {"path": path, "blob": True}},
        "kwargs": {"k": {"path": path, "blob": True}},
    }
    assert cloudpickle.loads(pending[name]) == ("ok", big)  # what the runner loads


def test_upload_once_atomically_private_and_again_when_deleted(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, _, pending = store.externalize([os.urandom(2 * 1024 * 1024)], {}, {})
    store.upload(pending)
    (name,) = pending
    blob = Path(store.root) / name
    assert blob.read_bytes() == pending[name]
    assert stat.S_IMODE(blob.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(store.root).stat().st_mode) == 0o700
    assert [p.name for p in Path(store.root).iterdir()] == [name]  # no temp file left
    trips, sent = store.transport.round_trips, store.uploaded
    store.upload(pending)
    assert (store.transport.round_trips, store.uploaded) == (trips, sent)  # known: no trip
    blob.unlink()
    monkeypatch.setattr(blobs, "KNOWN_SECONDS", 0.0)  # the memory expired: ask again
    store.upload(pending)
    assert blob.read_bytes() == pending[name] and store.uploaded == 2 * sent
