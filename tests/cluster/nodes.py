"""Extra SLURM compute nodes for the sandbox, each a `slurmd` in its own network namespace.

Why: a single-node sandbox cannot show whether `nodes=2` really spans two machines, whether
`srun` steps on one node reach another, or what rank 0's hostname looks like from rank 1.
Each node here is a separate slurmd with its own hostname (UTS namespace) and its own
network stack (a netns the sandbox creates), joined to the host by a veth pair on a
private bridge whose addresses exist only on this machine (10.77.0.0/24, no default
route inside: a node can reach the host and the other nodes and nothing else).
The filesystem is shared, so munge's socket, the job user's home and its venv are the
same as on the main node. Each slurmd runs with /etc/netns/<ns>/hosts bind-mounted over
/etc/hosts (as `ip netns exec` would do), which is how the controller's name resolves to the
bridge address there (its 127.0.0.1 is the node's own loopback) without touching the
machine's /etc/hosts.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

BRIDGE = "clbr0"
SUBNET_PREFIX = "10.77.0"
HOST_ADDRESS = f"{SUBNET_PREFIX}.1"
NODE_CPUS = 4  # declared (config_overrides), small enough for a test to fill a node
NODE_MEMORY_MB = 4000
# Counted GPUs (no hardware): each is a character device node aliasing /dev/null, which
# is all slurmd checks, so `--gpus=a100:1` is scheduled, counted and accounted for like on
# a GPU cluster (SLURM_GPUS_ON_NODE, CUDA_VISIBLE_DEVICES), and an unknown type refused.
GPU_TYPE = "a100"
GPUS_PER_NODE = 2


@dataclass(frozen=True)
class Node:
    """One namespace node: its SLURM/host name, netns, veth name and address."""

    name: str
    netns: str
    veth: str
    address: str


def node_list(count: int = 2) -> list[Node]:
    """The fixed layout (names tests read from SandboxInfo, never hard-code)."""
    return [
        Node(
            name=f"clnode{i}",
            netns=f"clusterlab-clnode{i}",
            veth=f"clveth{i}",  # host side; <= 15 chars (IFNAMSIZ)
            address=f"{SUBNET_PREFIX}.{10 + i}",
        )
        for i in range(1, count + 1)
    ]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _link_exists(name: str, netns: str | None = None) -> bool:
    prefix = ("-n", netns) if netns else ()
    return _ip(*prefix, "link", "show", name, check=False).returncode == 0


def hosts_text(controller: str, nodes: list[Node]) -> str:
    """/etc/hosts as a node sees it: the controller at the bridge address, every node."""
    lines = ["127.0.0.1 localhost", f"{HOST_ADDRESS} {controller}"]
    lines += [f"{n.address} {n.name}" for n in nodes]
    return "\n".join(lines) + "\n"


def ensure_network(controller: str, nodes: list[Node]) -> None:
    """Bridge, namespaces, veth pairs and addresses; each step only when it is missing,
    so a second call is a handful of `ip` reads."""
    if not _link_exists(BRIDGE):
        _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "replace", f"{HOST_ADDRESS}/24", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    existing = set(_ip("netns", "list").stdout.split())
    for node in nodes:
        if node.netns not in existing:
            _ip("netns", "add", node.netns)
        if not _link_exists(node.veth):
            # A peer left inside the netns by a half-done earlier run blocks the name.
            if _link_exists("eth0", node.netns):
                _ip("-n", node.netns, "link", "del", "eth0")
            peer = ("peer", "name", "eth0", "netns", node.netns)
            _ip("link", "add", node.veth, "type", "veth", *peer)
        _ip("link", "set", node.veth, "master", BRIDGE, "up")
        _ip("-n", node.netns, "link", "set", "lo", "up")
        _ip("-n", node.netns, "addr", "replace", f"{node.address}/24", "dev", "eth0")
        _ip("-n", node.netns, "link", "set", "eth0", "up")
        etc = Path("/etc/netns") / node.netns
        etc.mkdir(parents=True, exist_ok=True)
        hosts = etc / "hosts"
        text = hosts_text(controller, nodes)
        if not hosts.exists() or hosts.read_text() != text:
            hosts.write_text(text)
            hosts.chmod(0o644)


def ensure_gpu_devices(directory: Path, nodes: list[Node]) -> dict[str, list[Path]]:
    """The fake GPU device files of every node (made once: c 1 3, like /dev/null)."""
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    devices: dict[str, list[Path]] = {}
    for node in nodes:
        paths = [directory / f"{node.name}-gpu{i}" for i in range(GPUS_PER_NODE)]
        for path in paths:
            if not path.is_char_device():
                path.unlink(missing_ok=True)
                subprocess.run(["mknod", "-m", "666", str(path), "c", "1", "3"], check=True)
        devices[node.name] = paths
    return devices


def gres_conf_text(directory: Path, nodes: list[Node]) -> str:
    """gres.conf (read from slurm.conf's directory): each node's GPUs and their files."""
    last = GPUS_PER_NODE - 1
    return "".join(
        f"NodeName={n.name} Name=gpu Type={GPU_TYPE} File={directory}/{n.name}-gpu[0-{last}]\n"
        for n in nodes
    )


def slurmd_argv(node: Node, conf: Path) -> list[str]:
    """How a node's slurmd starts: in its netns, with a private mount namespace where the
    node's hosts file covers /etc/hosts, and a UTS namespace carrying its hostname.
    (Not `ip netns exec`: it remounts /sys, hiding the cgroup mounts slurmd checks.)"""
    hosts = Path("/etc/netns") / node.netns / "hosts"
    script = (
        'mount --bind "$3" /etc/hosts && hostname "$1" && exec /usr/sbin/slurmd -f "$2" -N "$1"'
    )
    return [
        "nsenter", f"--net=/run/netns/{node.netns}",
        "unshare", "--mount", "--uts", "--propagation", "private",
        "sh", "-c", script, "sh", node.name, str(conf), str(hosts),
    ]  # fmt: skip


def remove_network(nodes: list[Node]) -> None:
    """Namespaces and the bridge go (their slurmds must be stopped first)."""
    for node in nodes:
        if _link_exists(node.veth):
            _ip("link", "del", node.veth)
        _ip("netns", "del", node.netns, check=False)
    if _link_exists(BRIDGE):
        _ip("link", "del", BRIDGE)
