"""The simulate table's notes: a batch larger than a trainer's training nodes."""

from gnnsim.config import scenario_from_dict
from gnnsim.pipeline import simulate
from gnnsim.report.table import result_table

BASE = {"graph": {"num_nodes": 2000, "num_communities": 4, "avg_degree": 6, "feature_dim": 16, "train_fraction": 0.2},
        "training": {"batch_size": 64, "fanouts": [4, 3]}, "simulation": {"iterations": 2},
        "cluster": {"profile": "dgx-a100-80gb-1", "trainers_per_node": 2}}


def table(batch_size: int) -> tuple[str, list[int]]:
    s = scenario_from_dict({**BASE, "training": {**BASE["training"], "batch_size": batch_size}})
    r = simulate(s, sensitivity=False)
    return result_table(r), r.workload.train_per_rank


def test_a_batch_larger_than_a_trainers_training_nodes_is_noted():
    text, per_rank = table(1000)
    assert max(per_rank) < 1000
    note = next(line for line in text.splitlines() if line.startswith("NOTE"))
    assert f"{min(per_rank):,} training nodes" in note and "training.batch_size 1,000" in note
    assert "NOTE" not in table(64)[0]
