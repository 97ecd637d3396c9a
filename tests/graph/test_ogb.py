"""OGB raw folders written by the tests: counts, feature width from line 1 only, splits, corrupt files."""

from __future__ import annotations

import gzip

import pytest

from gnnsim.errors import GraphFormatError
from gnnsim.graph.ogb import is_ogb_folder, load_ogb_graph, read_feature_dim


def gz(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write(text)


@pytest.fixture
def ogb_root(tmp_path):
    root = tmp_path / "ogbn_tiny"
    gz(root / "raw" / "edge.csv.gz", "0,1\n1,2\n2,3\n3,0\n4,5\n")
    gz(root / "raw" / "num-node-list.csv.gz", "6\n")
    # Only line 1 is valid: the reader must not look further (it never loads the matrix).
    gz(root / "raw" / "node-feat.csv.gz", "0.1,0.2,0.3,0.4,0.5\nthis line is never read\n")
    gz(root / "raw" / "node-label.csv.gz", "0\n1\n2\nnan\n1\n0\n")
    gz(root / "split" / "time" / "train.csv.gz", "0\n2\n5\n")
    return root


def test_reads_counts_features_split_and_labels(ogb_root):
    g = load_ogb_graph(ogb_root)
    assert g.num_nodes == 6 and g.num_edges == 10  # 5 undirected edges, both directions
    assert g.feature_dim == 5 and g.train_ids.tolist() == [0, 2, 5]
    assert g.num_classes == 3 and g.labels.tolist() == [0, 1, 2, 0, 1, 0]  # nan -> class 0
    assert is_ogb_folder(ogb_root) and is_ogb_folder(ogb_root / "raw")
    assert load_ogb_graph(ogb_root / "raw").num_nodes == 6


def test_feature_dim_reads_one_line(tmp_path):
    gz(tmp_path / "f.csv.gz", ",".join(["1.5"] * 100) + "\n" + "garbage\n" * 10)
    assert read_feature_dim(tmp_path / "f.csv.gz") == 100


def test_without_features_split_or_labels_uses_defaults(ogb_root):
    for name in ("node-feat.csv.gz", "node-label.csv.gz"):
        (ogb_root / "raw" / name).unlink()
    (ogb_root / "split" / "time" / "train.csv.gz").unlink()
    g = load_ogb_graph(ogb_root, feature_dim=32, train_fraction=0.5)
    assert g.feature_dim == 32 and g.train_ids.size == 3


def test_corrupt_edge_line_named(ogb_root):
    gz(ogb_root / "raw" / "edge.csv.gz", "0,1\n1,2\n2;3\n")
    with pytest.raises(GraphFormatError, match=r"edge.csv.gz: line 3"):
        load_ogb_graph(ogb_root)


def test_edge_beyond_node_count(ogb_root):
    gz(ogb_root / "raw" / "edge.csv.gz", "0,1\n1,6\n")
    with pytest.raises(GraphFormatError, match=r"edge.csv.gz: line 2: node id beyond the 6 nodes"):
        load_ogb_graph(ogb_root)


def test_missing_and_bad_files(ogb_root, tmp_path):
    with pytest.raises(GraphFormatError, match="raw/edge.csv.gz: missing"):
        load_ogb_graph(tmp_path / "empty")
    gz(ogb_root / "raw" / "num-node-list.csv.gz", "six\n")
    with pytest.raises(GraphFormatError, match="num-node-list.csv.gz: line 1"):
        load_ogb_graph(ogb_root)


def test_split_errors(ogb_root):
    gz(ogb_root / "split" / "time" / "train.csv.gz", "0\n9\n")
    with pytest.raises(GraphFormatError, match="train.csv.gz: entry 2: node id 9 is outside"):
        load_ogb_graph(ogb_root)
    gz(ogb_root / "split" / "time" / "train.csv.gz", "0\nx\n")
    with pytest.raises(GraphFormatError, match="train.csv.gz: line 2"):
        load_ogb_graph(ogb_root)
    gz(ogb_root / "split" / "time" / "train.csv.gz", "1\n")
    gz(ogb_root / "split" / "other" / "train.csv.gz", "2\n")
    with pytest.raises(GraphFormatError, match="several splits"):
        load_ogb_graph(ogb_root)
    assert load_ogb_graph(ogb_root, split="other").train_ids.tolist() == [2]
    with pytest.raises(GraphFormatError, match="splits here"):
        load_ogb_graph(ogb_root, split="nope")


def test_bad_feature_first_line(ogb_root):
    gz(ogb_root / "raw" / "node-feat.csv.gz", "a,b\n")
    with pytest.raises(GraphFormatError, match="node-feat.csv.gz: line 1"):
        load_ogb_graph(ogb_root)


def test_label_count_mismatch(ogb_root):
    gz(ogb_root / "raw" / "node-label.csv.gz", "0\n1\n")
    with pytest.raises(GraphFormatError, match="has 2 labels but .* says 6 nodes"):
        load_ogb_graph(ogb_root)


def test_empty_split_is_an_error(ogb_root):
    gz(ogb_root / "split" / "time" / "train.csv.gz", "\n")
    with pytest.raises(GraphFormatError, match="train.csv.gz: no node ids"):
        load_ogb_graph(ogb_root)
