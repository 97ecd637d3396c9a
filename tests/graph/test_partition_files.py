"""DGL partition configs and PyG partition folders, written by the tests."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from gnnsim.errors import GraphFormatError
from gnnsim.graph.partition_files import read_dgl_partition, read_pyg_partition, read_pyg_partition_edges


def dgl_config(tmp_path, **over):
    cfg = {"graph_name": "g", "part_method": "metis", "num_parts": 2, "num_nodes": 5, "num_edges": 8,
           "node_map": {"_N": [[0, 3], [3, 5]]},
           "part-0": {"node_feats": "p0/node_feat.dgl", "edge_feats": "p0/edge_feat.dgl", "part_graph": "p0/graph.dgl"},
           "part-1": {"node_feats": "/abs/feats1.bin", "edge_feats": "p1/ef.dgl", "part_graph": "p1/graph.dgl"}}
    cfg.update(over)
    path = tmp_path / "g.json"
    path.write_text(json.dumps(cfg))
    return path


def test_dgl_ranges_and_paths_from_json(tmp_path):
    pf = read_dgl_partition(dgl_config(tmp_path))
    assert pf.assignment.tolist() == [0, 0, 0, 1, 1] and pf.num_parts == 2 and pf.num_edges == 8
    assert pf.part_files[0]["node_feats"] == tmp_path / "p0" / "node_feat.dgl"  # relative to the JSON
    assert str(pf.part_files[1]["node_feats"]) == "/abs/feats1.bin"  # absolute kept, nothing hard-coded


def test_dgl_hetero_ranges_interleave(tmp_path):
    # Two node types; part 0 holds ids [0,2) of type a and [2,3) of type b, and so on.
    node_map = {"a": [[0, 2], [3, 5]], "b": [[2, 3], [5, 6]]}
    pf = read_dgl_partition(dgl_config(tmp_path, node_map=node_map, num_nodes=6))
    assert pf.assignment.tolist() == [0, 0, 0, 1, 1, 1]


def test_dgl_old_formats(tmp_path):
    assert read_dgl_partition(dgl_config(tmp_path, node_map=[3, 5])).assignment.tolist() == [0, 0, 0, 1, 1]
    np.save(tmp_path / "node_map.npy", np.array([1, 0, 1, 0, 0]))
    pf = read_dgl_partition(dgl_config(tmp_path, node_map="node_map.npy"))
    assert pf.assignment.tolist() == [1, 0, 1, 0, 0]


@pytest.mark.parametrize("over,match", [
    ({"node_map": {"_N": [[0, 3], [4, 5]]}}, "tile"),
    ({"node_map": {"_N": [[0, 3]]}}, "must hold 2"),
    ({"num_nodes": 7}, "covers 5 nodes but num_nodes says 7"),
    ({"num_parts": 0}, "positive integer"),
    ({"part-1": None}, "missing the 'part-1' entry"),
    ({"node_map": "missing.npy"}, "cannot be read"),
])
def test_dgl_errors(tmp_path, over, match):
    with pytest.raises(GraphFormatError, match=match):
        read_dgl_partition(dgl_config(tmp_path, **over))


def test_dgl_bad_json_names_line(tmp_path):
    (tmp_path / "g.json").write_text('{\n "num_parts": 2,\n "node_map": [3 5]\n}')
    with pytest.raises(GraphFormatError, match=r"g.json: line 3"):
        read_dgl_partition(tmp_path / "g.json")


torch = pytest.importorskip("torch")


@pytest.fixture
def pyg_root(tmp_path):
    root = tmp_path / "pyg"
    (root / "part_0").mkdir(parents=True)
    (root / "part_1").mkdir()
    (root / "META.json").write_text(json.dumps({"num_parts": 2, "is_hetero": False, "node_types": None,
                                                "edge_types": None}))
    torch.save(torch.tensor([0, 0, 1, 1]), root / "node_map.pt")
    torch.save({"edge_id": torch.tensor([0, 1]), "row": torch.tensor([0, 1]), "col": torch.tensor([1, 2]),
                "size": (4, 4)}, root / "part_0" / "graph.pt")
    torch.save({"edge_id": torch.tensor([2]), "row": torch.tensor([2]), "col": torch.tensor([3]), "size": (4, 4)},
               root / "part_1" / "graph.pt")
    torch.save({"global_id": torch.tensor([0, 1]), "feats": {"x": torch.zeros(2, 7)}}, root / "part_0" / "node_feats.pt")
    return root


def test_pyg_assignment_and_edges(pyg_root):
    pf = read_pyg_partition(pyg_root)
    assert pf.assignment.tolist() == [0, 0, 1, 1] and pf.num_parts == 2
    src, dst, n = read_pyg_partition_edges(pf)
    assert src.tolist() == [0, 1, 2] and dst.tolist() == [1, 2, 3] and n == 4


def test_pyg_graph_through_load_graph(pyg_root):
    from gnnsim.graph.load import load_graph

    g = load_graph(str(pyg_root))
    assert g.num_nodes == 4 and g.num_edges == 6 and g.feature_dim == 7


def test_pyg_errors(pyg_root):
    torch.save(torch.tensor([0, 0, 2, 1]), pyg_root / "node_map.pt")
    with pytest.raises(GraphFormatError, match=r"node_map.pt: part ids must lie in \[0, 1\]"):
        read_pyg_partition(pyg_root)
    (pyg_root / "node_map.pt").write_bytes(b"not a torch file")
    with pytest.raises(GraphFormatError, match="node_map.pt: cannot be read by torch.load"):
        read_pyg_partition(pyg_root)
    (pyg_root / "META.json").write_text(json.dumps({"num_parts": 2, "is_hetero": True}))
    with pytest.raises(GraphFormatError, match="heterogeneous"):
        read_pyg_partition(pyg_root)
    with pytest.raises(GraphFormatError, match="META.json: missing"):
        read_pyg_partition(pyg_root / "part_0")


def test_pyg_edge_out_of_range(pyg_root):
    torch.save({"row": torch.tensor([0]), "col": torch.tensor([9])}, pyg_root / "part_1" / "graph.pt")
    with pytest.raises(GraphFormatError, match=r"part_1/graph.pt: node ids must lie in \[0, 3\]"):
        read_pyg_partition_edges(read_pyg_partition(pyg_root))


def test_pyg_without_torch_is_a_clear_error(pyg_root, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(GraphFormatError, match="needs torch: pip install"):
        read_pyg_partition(pyg_root)
