"""Content-addressed large arguments, through the real local transport."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import cloudpickle
import pytest

import clusterlab as cl
from clusterlab.core.transfer import blobs
from clusterlab.core.transfer.blobs import BlobStore
from clusterlab.transports import LocalTransport, get_transport
from clusterlab.transports.base import CommandResult


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


def test_a_cut_upload_leaves_nothing_under_the_content_address(tmp_path: Path) -> None:
    """A connection cut mid-upload gives the remote `cat` an early end of input; before,
    the partial file was renamed to the blob's name and later jobs loaded it."""
    import hashlib

    from clusterlab.core.transfer.blobs import _PUT

    data = b"x" * 100_000
    name = hashlib.sha256(data).hexdigest() + ".pkl"
    transport = LocalTransport()
    cut = transport.script(_PUT, str(tmp_path), name, str(len(data)), stdin=data[:30_000])
    assert cut.returncode == 98 and "got 30000 of 100000 bytes" in cut.err
    assert list(tmp_path.iterdir()) == []  # nothing kept, not even the temp file
    forged = transport.script(_PUT, str(tmp_path), name, str(len(data)), stdin=b"y" * 100_000)
    assert forged.returncode == 98 and not (tmp_path / name).exists()
    whole = transport.script(_PUT, str(tmp_path), name, str(len(data)), stdin=data)
    assert whole.returncode == 0 and (tmp_path / name).read_bytes() == data


def test_a_write_that_fails_says_so_not_a_cut_connection(tmp_path: Path) -> None:
    """The checksum is taken while the bytes arrive (tee): a write that fails on the way
    (here a file size limit, as a full disk would) is still told apart from a cut
    connection (97: check the remote_dir, not 98: submit again), and nothing is kept."""
    import hashlib

    from clusterlab.core.transfer.blobs import _PUT

    data = b"z" * 100_000
    name = hashlib.sha256(data).hexdigest() + ".pkl"
    limited = ["sh", "-c", 'ulimit -f 20; exec sh -c "$0" sh "$@"', _PUT]
    res = LocalTransport().run([*limited, str(tmp_path), name, str(len(data))], stdin=data)
    assert res.returncode == 97
    assert list(tmp_path.iterdir()) == []


def test_without_openssl_the_upload_checks_with_sha256sum(tmp_path: Path) -> None:
    """OpenSSL's digest is preferred (it uses the CPU's SHA instructions); a cluster
    without the openssl command still gets the content address checked, by coreutils."""
    import hashlib
    import shutil

    from clusterlab.core.transfer.blobs import _PUT

    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("sh", "mkdir", "chmod", "mktemp", "tee", "sha256sum", "wc", "rm", "mv", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (tools / tool).symlink_to(found)
    store = tmp_path / "blobs"
    data = b"w" * 100_000
    name = hashlib.sha256(data).hexdigest() + ".pkl"

    def put(payload: bytes) -> CommandResult:
        argv = ["env", f"PATH={tools}", "sh", "-c", _PUT, "sh", str(store), name, str(len(data))]
        return LocalTransport().run(argv, stdin=payload)

    forged = put(b"v" * 100_000)
    assert forged.returncode == 98 and "checksum differs" in forged.err
    assert not (store / name).exists()
    whole = put(data)
    assert whole.returncode == 0 and (store / name).read_bytes() == data
