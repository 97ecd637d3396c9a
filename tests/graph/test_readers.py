"""Edge-list and .npz readers: happy paths, explicit edge options, corrupt inputs named by line."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import scipy.sparse as sp

from gnnsim.errors import GraphFormatError
from gnnsim.graph.readers import EdgeOptions, graph_from_edges, load_edge_list_graph, load_npz_graph, read_edge_list, read_npz


def write(tmp_path, name, text):
    p = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(p, "wt") as fh:
            fh.write(text)
    else:
        p.write_text(text)
    return p


@pytest.mark.parametrize("name,text", [
    ("g.txt", "# comment\n% matrix-market style comment\n0 1\n\n1\t2\n2   3 0.5\n"),
    ("g.csv", "src,dst\n0,1\n1, 2\n2,3,7\n"),
    ("g.csv.gz", "# gz\n0,1\n1,2\n2,3\n"),
    ("g.txt.gz", "0 1\n1 2\n2 3"),  # no final newline
])
def test_edge_list_formats(tmp_path, name, text):
    src, dst = read_edge_list(write(tmp_path, name, text))
    assert src.tolist() == [0, 1, 2] and dst.tolist() == [1, 2, 3]


def test_small_blocks_give_same_edges_and_line_numbers(tmp_path):
    lines = [f"{i} {i + 1}" for i in range(200)]
    p = write(tmp_path, "g.txt", "# header\n" + "\n".join(lines) + "\n")
    src, dst = read_edge_list(p, block_chars=37)
    assert src.tolist() == list(range(200)) and dst.tolist() == list(range(1, 201))
    lines[150] = "150 oops"
    p = write(tmp_path, "bad.txt", "# header\n" + "\n".join(lines) + "\n")
    with pytest.raises(GraphFormatError, match=r"bad.txt: line 152: 'oops'"):
        read_edge_list(p, block_chars=37)


@pytest.mark.parametrize("text,line,what", [
    ("0 1\n1 x\n", 2, "'x' is not an integer"),
    ("# c\n0 1\n\n-3 1\n", 4, "negative"),
    ("0 1\n2\n", 2, "expected two node ids"),
    ("0 1\n1.5 2\n", 2, "'1.5' is not an integer"),
    ("0,1\n1;2\n", 2, "expected two node ids"),
    ("0 1\n99999999999999999999999 2\n", 2, "too large"),
])
def test_corrupt_line_is_named(tmp_path, text, line, what):
    p = write(tmp_path, "e.txt", text)
    with pytest.raises(GraphFormatError) as err:
        read_edge_list(p)
    assert f"e.txt: line {line}:" in str(err.value) and what in str(err.value)


def test_id_beyond_declared_node_count(tmp_path):
    p = write(tmp_path, "e.txt", "0 1\n1 7\n")
    with pytest.raises(GraphFormatError, match="line 2: node id beyond the 5 nodes"):
        read_edge_list(p, num_nodes=5)


def test_missing_empty_and_truncated_gzip(tmp_path):
    with pytest.raises(GraphFormatError, match="no such edge-list file"):
        read_edge_list(tmp_path / "nothere.txt")
    with pytest.raises(GraphFormatError, match="no edges found"):
        read_edge_list(write(tmp_path, "empty.txt", "# only a comment\n\n"))
    good = gzip.compress(("\n".join(f"{i} {i + 1}" for i in range(5000)) + "\n").encode())
    (tmp_path / "cut.txt.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(GraphFormatError, match="cut.txt.gz: cannot read"):
        read_edge_list(tmp_path / "cut.txt.gz")
    (tmp_path / "notgz.txt.gz").write_bytes(b"0 1\n")
    with pytest.raises(GraphFormatError, match="notgz.txt.gz"):
        read_edge_list(tmp_path / "notgz.txt.gz")


def test_edge_options_hand_counts(tmp_path):
    # 0->1 twice, 1->0 once, a self loop 2->2, and 1->2.
    p = write(tmp_path, "e.txt", "0 1\n0 1\n1 0\n2 2\n1 2\n")
    common = dict(feature_dim=4, num_classes=2, train_fraction=0.5)
    assert load_edge_list_graph(p, **common).num_edges == 4  # {0-1, 1-2} both ways
    assert load_edge_list_graph(p, **common, self_loops=True).num_edges == 5  # + 2->2 once
    assert load_edge_list_graph(p, **common, dedup=False).num_edges == 8  # 4 raw non-loop edges, both ways
    directed = load_edge_list_graph(p, **common, symmetrize=False)
    assert directed.num_edges == 3  # rows are destinations: 1<-0, 0<-1, 2<-1
    assert directed.csr[1, 0] == 1 and directed.csr[2, 1] == 1 and directed.csr[0, 2] == 0
    raw = load_edge_list_graph(p, **common, symmetrize=False, self_loops=True, dedup=False)
    assert raw.num_edges == 5 and raw.degrees().tolist() == [1, 2, 2]


def test_graph_from_edges_is_seeded():
    a = graph_from_edges(np.array([0, 1, 2]), np.array([1, 2, 3]), 10, name="x", feature_dim=4, num_classes=3, seed=5)
    b = graph_from_edges(np.array([0, 1, 2]), np.array([1, 2, 3]), 10, name="x", feature_dim=4, num_classes=3, seed=5)
    assert (a.train_ids == b.train_ids).all() and (a.labels == b.labels).all() and a.train_ids.size == 5


def test_npz_sparse_matrix(tmp_path):
    # Row = destination: row 1 lists 0, so 0 -> 1; row 2 lists 1, so 1 -> 2.
    mat = sp.csr_matrix((np.ones(2), ([1, 2], [0, 1])), shape=(4, 4))
    sp.save_npz(tmp_path / "m.npz", mat)
    src, dst, n, extras = read_npz(tmp_path / "m.npz")
    assert sorted(zip(src.tolist(), dst.tolist())) == [(0, 1), (1, 2)] and n == 4 and extras == {}
    g = load_npz_graph(tmp_path / "m.npz", feature_dim=8, num_classes=2, train_fraction=0.5)
    assert g.num_nodes == 4 and g.num_edges == 4


def test_npz_edge_index_with_split_and_labels(tmp_path):
    mask = np.array([True, False, True, False, False])
    np.savez(tmp_path / "g.npz", edge_index=np.array([[0, 1, 3], [1, 2, 4]]), num_nodes=np.array(5),
             train_mask=mask, labels=np.array([0, 1, 2, 0, 1]))
    g = load_npz_graph(tmp_path / "g.npz", feature_dim=8, num_classes=2, train_fraction=0.9,
                       options=EdgeOptions(symmetrize=False))
    assert g.train_ids.tolist() == [0, 2] and g.num_classes == 3 and g.num_edges == 3


@pytest.mark.parametrize("arrays,match", [
    ({"edge_index": np.array([[0, 1, 2]])}, r"shape \(2, E\)"),
    ({"edge_index": np.array([[0, -1], [1, 2]])}, "negative"),
    ({"edge_index": np.array([[0, 9], [1, 2]]), "num_nodes": np.array(5)}, "names node 9 but num_nodes is 5"),
    ({"edge_index": np.array([[0.5, 1.0], [1.0, 2.0]])}, "expected integers"),
    ({"weights": np.ones(3)}, "expected a scipy sparse matrix"),
    ({"edge_index": np.array([[0, 1], [1, 2]]), "labels": np.array([1, 2])}, "'labels' has shape"),
])
def test_npz_errors(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(GraphFormatError, match=match):
        read_npz(tmp_path / "bad.npz")


def test_npz_not_an_archive(tmp_path):
    (tmp_path / "x.npz").write_text("hello")
    with pytest.raises(GraphFormatError, match="x.npz: not a readable .npz"):
        read_npz(tmp_path / "x.npz")


@st.composite
def edge_file(draw):
    edges = draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=40))
    sep = draw(st.sampled_from([" ", "\t", ",", ", ", "  "]))
    lines = []
    for u, v in edges:
        if draw(st.booleans()) and draw(st.booleans()):
            lines.append(draw(st.sampled_from(["# note", "% note", "", "   "])))
        extra = draw(st.sampled_from(["", f"{sep}1", f"{sep}7{sep}9"])) if "," not in sep else ""
        lines.append(f"{u}{sep}{v}{extra}")
    return edges, "\n".join(lines) + draw(st.sampled_from(["", "\n"])), draw(st.integers(8, 200))


@settings(max_examples=60, deadline=None)
@given(edge_file())
def test_edge_list_roundtrip(tmp_path_factory, case):
    edges, text, block = case
    p = tmp_path_factory.mktemp("rt") / "e.txt"
    p.write_text(text)
    src, dst = read_edge_list(p, block_chars=block)
    assert list(zip(src.tolist(), dst.tolist())) == edges
