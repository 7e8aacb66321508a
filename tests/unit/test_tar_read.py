"""The tar stream of many job files (read_files) is read by slicing when it is GNU tar's
plain stream, and by tarfile otherwise: both give the same files (issue 30, item 1)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from clusterlab.transports.base import parse_files
from clusterlab.transports.tarread import read_plain_tar

TAR = shutil.which("tar")
pytestmark = pytest.mark.skipif(TAR is None, reason="needs GNU tar (the remote side's tool)")


def _by_tarfile(blob: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
        for member in tar:
            fh = tar.extractfile(member) if member.isreg() else None
            if fh is not None:
                out[member.name] = fh.read()
    return out


def _tree(tmp_path: Path, long_names: bool = True) -> list[str]:
    # names past tar's 100 bytes (GNU: an "L" entry first; ustar cannot hold them all)
    deep = tmp_path / ("d" * 90 + "/" + "e" * 60 if long_names else "d") / "results"
    deep.mkdir(parents=True)
    paths = []
    for i in range(300):
        f = deep / f"{i}.pkl"
        f.write_bytes(os.urandom(i % 700))  # empty, under and over one 512-byte block
        paths.append(str(f))
    (tmp_path / "link").symlink_to(paths[5] if long_names else "d")
    (tmp_path / "dir").mkdir()
    paths += [str(tmp_path / "link"), str(tmp_path / "dir"), str(tmp_path / "é-ü.pkl")]
    Path(paths[-1]).write_bytes(b"unicode name")
    return paths


def _gnu_tar(paths: list[str], *flags: str) -> bytes:
    """What the remote read_files script runs: tar -cP[z]f - -T - (absolute names)."""
    listing = "".join(f"{p}\n" for p in paths).encode()
    argv = [str(TAR), "-cP", *flags, "-f", "-", "--no-recursion", "-T", "-"]
    return subprocess.run(argv, input=listing, capture_output=True, check=True).stdout


@pytest.mark.parametrize("flags", [(), ("-z",), ("--format=ustar",)])
def test_gnu_tar_streams_read_as_tarfile_reads_them(tmp_path: Path, flags: tuple[str, ...]) -> None:
    paths = _tree(tmp_path, long_names="--format=ustar" not in flags)
    blob = _gnu_tar(paths, *flags)
    fast = read_plain_tar(blob)
    assert fast is not None
    assert fast == _by_tarfile(blob)
    assert fast[paths[7]] == Path(paths[7]).read_bytes() and len(fast) == 301
    assert parse_files(blob) == fast


def test_what_it_does_not_read_goes_to_tarfile(tmp_path: Path) -> None:
    """pax headers, a truncated stream: None here, and parse_files answers as before."""
    paths = _tree(tmp_path)[:20]
    pax = _gnu_tar(paths, "--format=pax")
    assert read_plain_tar(pax) is None
    assert parse_files(pax) == _by_tarfile(pax)
    plain = _gnu_tar(paths)
    for cut in (plain[:2000], plain[:1500], plain[:700]):
        assert read_plain_tar(cut) is None
        assert _outcome(parse_files, cut) == _outcome(_by_tarfile, cut)


def _outcome(read: Callable[[bytes], dict[str, bytes]], blob: bytes) -> object:
    try:
        return read(blob)
    except tarfile.TarError as exc:
        return type(exc)
