"""Where bytes travel: the cluster's links as a graph of directed channels, and routes.

A cluster is two trees of links per node plus a network that joins the nodes:

- The **I/O tree** (PCIe and the network). Each trainer device hangs off a PCIe
  switch (``gpus_per_pcie_switch`` devices share one switch and its uplink to the host's
  root complex; with the default of 1 each device has its own x16 link to the host). The
  host reaches the network through its NIC; the NIC connects to a leaf switch. With a
  single switch, every node's NIC is on it. With a two-level fat tree,
  ``nodes_per_leaf`` nodes share a leaf whose uplink to the spine carries
  ``nodes_per_leaf x NIC bandwidth / oversubscription`` per direction.
- The **peer fabric** (NVLink through an NVSwitch, or loopback TCP for CPU trainers):
  every trainer has one port into the fabric at the node's ``intra_link`` bandwidth.

Every physical link becomes two directed *channels* (``.up`` towards the root,
``.down`` away from it) with the link's per-direction bandwidth, so the two directions
of a full-duplex link never compete; a half-duplex link is one channel shared by both
directions. A *route* between two endpoints is the list of channels from the source up
to the lowest common switch and down to the destination, plus a latency: the largest
latency of its links (the per-message software cost of the slowest hop dominates, and
the hardware hops pipeline under it).

Optional profile keys, read with defaults so that a catalog without them still works:
node ``gpus_per_pcie_switch`` (default 1), cluster ``fat_tree: {oversubscription: 2,
nodes_per_leaf: 4}`` (default: one switch, no oversubscription).

>>> from gnnsim.hardware.profiles import load_cluster
>>> topo = build_topology(load_cluster("a100-2x8-eth100"), gpus_per_pcie_switch=2)
>>> route = topo.h2d_route(0)
>>> [topo.channels[c].name for c in route.channels]
['node0/pcie-switch0.down', 'node0/pcie0.down']
>>> round(topo.capacity_of(route) / 1e9, 1)
25.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gnnsim.errors import ProfileError
from gnnsim.hardware.profiles import Cluster, Link, profile_root

# A fat tree leaf switch adds a store-and-forward hop; its port-to-port latency (~1 us on
# datacenter Ethernet/IB switches) is below the NIC's software latency, which dominates.
DEFAULT_GPUS_PER_PCIE_SWITCH = 1  # source: no sharing unless the node profile says so


@dataclass(frozen=True)
class Channel:
    """One direction of one link: ``capacity`` bytes/s, ``latency_s`` per message."""

    name: str
    kind: str  # pcie | nvlink | nvswitch | ethernet | infiniband | loopback | fabric
    capacity: float
    latency_s: float
    node: int  # the node it belongs to, -1 for the network fabric


@dataclass(frozen=True)
class Route:
    channels: tuple[int, ...]
    latency_s: float


@dataclass(frozen=True)
class FatTree:
    oversubscription: float
    nodes_per_leaf: int


@dataclass
class Topology:
    """Channels and the parent structure of the I/O tree and the peer fabric."""

    cluster: Cluster
    gpus_per_pcie_switch: int
    fat_tree: FatTree | None
    channels: list[Channel] = field(default_factory=list)
    # vertex -> (parent vertex, up channel, down channel); roots have no entry
    _io_parent: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    _peer_port: dict[int, tuple[int, int]] = field(default_factory=dict)  # rank -> (up, down)

    # -- construction -------------------------------------------------------------
    def _link(self, name: str, link: Link, node: int, capacity: float | None = None,
              kind: str | None = None, latency_s: float | None = None) -> tuple[int, int]:
        cap = link.bytes_per_s if capacity is None else capacity
        lat = link.latency_s if latency_s is None else latency_s
        k = kind or link.kind
        up = len(self.channels)
        if link.duplex:
            self.channels.append(Channel(f"{name}.up", k, cap, lat, node))
            self.channels.append(Channel(f"{name}.down", k, cap, lat, node))
            return up, up + 1
        self.channels.append(Channel(name, k, cap, lat, node))
        return up, up

    # -- endpoints ----------------------------------------------------------------
    @property
    def per_node(self) -> int:
        return self.cluster.node.trainers

    def node_of(self, rank: int) -> int:
        return rank // self.per_node

    def device_vertex(self, rank: int) -> str:
        return f"node{self.node_of(rank)}/dev{rank % self.per_node}"

    @staticmethod
    def host_vertex(node: int) -> str:
        return f"node{node}/host"

    # -- routes -------------------------------------------------------------------
    def _path_up(self, vertex: str) -> list[tuple[str, int, int]]:
        path = []
        while vertex in self._io_parent:
            parent, up, down = self._io_parent[vertex]
            path.append((vertex, up, down))
            vertex = parent
        return path

    def io_route(self, src: str, dst: str) -> Route:
        """Route through the I/O tree (PCIe, NICs, switches) between two vertices."""
        up_path, down_path = self._path_up(src), self._path_up(dst)
        src_chain = [src] + [self._io_parent[v][0] for v, _, _ in up_path]
        dst_chain = [dst] + [self._io_parent[v][0] for v, _, _ in down_path]
        common = set(src_chain) & set(dst_chain)
        if not common:
            raise ProfileError(f"topology of cluster '{self.cluster.name}': no route between {src} and {dst}")
        ups = [u for v, u, _ in up_path[:next(i for i, x in enumerate(src_chain) if x in common)]]
        downs = [d for v, _, d in down_path[:next(i for i, x in enumerate(dst_chain) if x in common)]]
        chans = tuple(ups + downs[::-1])
        return Route(chans, max((self.channels[c].latency_s for c in chans), default=0.0))

    def h2d_route(self, rank: int) -> Route:
        """Host memory to trainer ``rank``'s device (PCIe, through a shared switch if any)."""
        return self.io_route(self.host_vertex(self.node_of(rank)), self.device_vertex(rank))

    def node_route(self, a: int, b: int) -> Route:
        """Host of node ``a`` to host of node ``b`` through the NICs and the switch(es)."""
        return self.io_route(self.host_vertex(a), self.host_vertex(b))

    def rank_route(self, src: int, dst: int) -> Route:
        """Trainer to trainer: the peer fabric inside a node, the network across nodes.

        Across nodes the route is the hosts' route (NICs and switches): the PCIe hops
        between a device and its NIC are faster than the NIC and are left out.
        """
        if self.node_of(src) == self.node_of(dst):
            up, down = self._peer_port[src][0], self._peer_port[dst][1]
            chans = (up, down)
            return Route(chans, self.cluster.node.intra_link.latency_s)
        return self.node_route(self.node_of(src), self.node_of(dst))

    def route(self, src: str, dst: str) -> Route:
        """Route between two named endpoints: ``nodeN/host`` or ``rankR``."""
        def vertex(name: str) -> str:
            return self.device_vertex(int(name[4:])) if name.startswith("rank") else name
        if src.startswith("rank") and dst.startswith("rank"):
            return self.rank_route(int(src[4:]), int(dst[4:]))
        return self.io_route(vertex(src), vertex(dst))

    def peer_port(self, rank: int) -> tuple[int, int]:
        """(up, down) channels of ``rank``'s port into the node's peer fabric."""
        return self._peer_port[rank]

    def leaf_of(self, node: int) -> int:
        """The leaf switch of ``node`` (0 with a single switch)."""
        return node // self.fat_tree.nodes_per_leaf if self.fat_tree else 0

    def node_halves(self, node: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """Channels from ``node``'s host up to its leaf, up to the spine, and down from
        its leaf and from the spine: (up_near, up_far, down_near, down_far)."""
        host = self.host_vertex(node)
        path = self._path_up(host)  # [(host, nic up, nic down), (leaf, leaf up, leaf down)?]
        ups = tuple(u for _, u, _ in path)
        downs = tuple(d for _, _, d in path)[::-1]
        return ups[:1], ups, downs[-1:], downs

    def capacity_of(self, route: Route) -> float:
        """The slowest channel's bandwidth in bytes/s (inf for an empty route)."""
        return min((self.channels[c].capacity for c in route.channels), default=float("inf"))

    @property
    def capacities(self) -> list[float]:
        return [c.capacity for c in self.channels]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.channels]


def build_topology(cluster: Cluster, *, gpus_per_pcie_switch: int | None = None,
                   fat_tree: FatTree | dict[str, Any] | None = None) -> Topology:
    """Build the channels of ``cluster`` (see the module docstring for the shape)."""
    per_switch = max(1, int(gpus_per_pcie_switch or DEFAULT_GPUS_PER_PCIE_SWITCH))
    if isinstance(fat_tree, dict):
        fat_tree = FatTree(float(fat_tree.get("oversubscription", 1.0)), int(fat_tree.get("nodes_per_leaf", 1)))
    topo = Topology(cluster, per_switch, fat_tree)
    node = cluster.node
    n_nodes, per_node = cluster.num_nodes, node.trainers
    for n in range(n_nodes):
        host = topo.host_vertex(n)
        if node.h2d_link is not None:
            for s in range(-(-per_node // per_switch)):
                if per_switch > 1:
                    switch = f"node{n}/pcie-switch{s}"
                    up, down = topo._link(switch, node.h2d_link, n)
                    topo._io_parent[switch] = (host, up, down)
                else:
                    switch = host
                for local in range(s * per_switch, min(per_node, (s + 1) * per_switch)):
                    dev = f"node{n}/dev{local}"
                    up, down = topo._link(f"node{n}/pcie{local}", node.h2d_link, n)
                    topo._io_parent[dev] = (switch, up, down)
        for local in range(per_node):
            rank = n * per_node + local
            topo._peer_port[rank] = topo._link(f"node{n}/{node.intra_link.kind}{local}", node.intra_link, n)
        if n_nodes > 1:
            leaf = f"leaf{n // fat_tree.nodes_per_leaf}" if fat_tree else "switch"
            up, down = topo._link(f"node{n}/nic", cluster.network, n)
            topo._io_parent[host] = (leaf, up, down)
    if n_nodes > 1 and fat_tree is not None:
        leaves = -(-n_nodes // fat_tree.nodes_per_leaf)
        if leaves > 1:
            uplink = cluster.network.bytes_per_s * fat_tree.nodes_per_leaf / fat_tree.oversubscription
            for leaf in range(leaves):
                up, down = topo._link(f"net/leaf{leaf}", cluster.network, -1, capacity=uplink,
                                      kind="fabric", latency_s=0.0)
                topo._io_parent[f"leaf{leaf}"] = ("spine", up, down)
    return topo


def _optional_yaml(kind: str, name: str) -> dict[str, Any]:
    path: Path = profile_root() / kind / f"{name}.yaml"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def topology_for(cluster: Cluster) -> Topology:
    """The topology of ``cluster`` with the optional keys of its node and cluster profiles.

    Reads node ``gpus_per_pcie_switch`` and cluster ``fat_tree`` from the catalog YAML
    (missing keys mean: own PCIe link per device, one non-blocking switch).
    """
    node_yaml = _optional_yaml("nodes", cluster.node.name)
    cluster_yaml = _optional_yaml("clusters", cluster.name)
    per_switch = node_yaml.get("gpus_per_pcie_switch", DEFAULT_GPUS_PER_PCIE_SWITCH)
    if isinstance(per_switch, bool) or not isinstance(per_switch, int) or per_switch < 1:
        raise ProfileError(f"hwprofiles/nodes/{cluster.node.name}.yaml: gpus_per_pcie_switch must be a "
                           f"positive integer (devices sharing one PCIe switch), got {per_switch!r}")
    ft = cluster_yaml.get("fat_tree")
    fat_tree = None
    if ft is not None:
        where = f"hwprofiles/clusters/{cluster.name}.yaml: fat_tree"
        if not isinstance(ft, dict):
            raise ProfileError(f"{where}: expected a mapping like {{oversubscription: 2, nodes_per_leaf: 4}}")
        try:
            fat_tree = FatTree(float(ft.get("oversubscription", 1.0)), int(ft.get("nodes_per_leaf", 1)))
        except (TypeError, ValueError):
            raise ProfileError(f"{where}: oversubscription and nodes_per_leaf must be numbers, got {ft!r}") from None
        if fat_tree.oversubscription <= 0 or fat_tree.nodes_per_leaf < 1:
            raise ProfileError(f"{where}: oversubscription must be > 0 and nodes_per_leaf >= 1, got {ft!r}")
    return build_topology(cluster, gpus_per_pcie_switch=per_switch, fat_tree=fat_tree)
