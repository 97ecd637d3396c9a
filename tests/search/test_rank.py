import pytest

from gnnsim.search.rank import rank

GIB = 2**30


def rec(index, t, c, fits=True):
    return {"index": index, "settings": {"k": str(index)}, "status": "ok", "epoch_time_s": t,
            "cost_per_epoch_usd": c, "memory": {"fits": fits, "peak_bytes": 1, "capacity_bytes": GIB}}


POINTS = [rec(0, 1.0, 5.0), rec(1, 2.0, 3.0), rec(2, 2.0, 4.0), rec(3, 3.0, 3.0), rec(4, 4.0, 1.0),
          rec(5, 1.0, 5.0), rec(6, 0.5, 0.5, fits=False),
          {"index": 7, "settings": {"k": "7"}, "status": "error", "error": "PartitionError: x"}]


def test_front_by_hand():
    # 2 is beaten by 1 (as fast, cheaper), 3 by 1 (as cheap, faster); 0 and 5 tie and both stay;
    # 6 beats everything but does not fit in memory, so it is not on the front
    r = rank(POINTS, "time")
    assert [row.index for row in r.front] == [0, 5, 1, 4]
    assert {row.index for row in r.table if row.on_front} == {0, 1, 4, 5}


def test_objectives_and_ties():
    assert rank(POINTS, "time").chosen.index == 0  # 0 and 5 tie on time and cost: the lower number
    assert rank(POINTS, "cost").chosen.index == 4
    ranked = rank(POINTS, "cost").table
    # candidates by cost then time: 4 (1.0), 1 (3.0, 2 s), 3 (3.0, 3 s), 2 (4.0), 0, 5; then 6 (no fit), 7 (failed)
    assert [r.index for r in ranked] == [4, 1, 3, 2, 0, 5, 6, 7]
    assert [r.rank for r in ranked] == [1, 2, 3, 4, 5, 6, 0, 0]


def test_limits_and_epochs():
    r = rank(POINTS, "cost", max_epoch_s=2.5)
    assert r.chosen.index == 1
    miss = {row.index: row.violations for row in r.table if row.violations}
    assert miss == {3: ["epoch > 2.5 s"], 4: ["epoch > 2.5 s"]}
    # per run of 10 epochs: cost per epoch x 10 <= 35 leaves 1, 3, 4 (30, 30, 10)
    r = rank(POINTS, "time", max_cost=35, epochs=10)
    assert r.chosen.index == 1 and r.chosen.cost_per_run_usd == pytest.approx(30.0)
    assert rank(POINTS, "time", max_epoch_s=0.1).chosen is None


def test_a_point_without_a_memory_estimate_fits():
    r = rank([{**rec(0, 1.0, 1.0), "memory": None}])
    assert r.chosen.index == 0 and r.table[0].fits
