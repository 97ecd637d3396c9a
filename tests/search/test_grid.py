import pytest

from gnnsim.search.errors import SearchError
from gnnsim.search.grid import parse_grid, settings_key


def test_points_are_numbered_last_axis_fastest():
    grid = parse_grid(["partition.method=a0,a1", "training.batch_size=b0,b1,b2"])
    assert grid.size == 6
    # 4 = 1 * 3 + 1: the second value of each axis
    assert grid.settings(4) == {"partition.method": "a1", "training.batch_size": "b1"}
    assert [grid.settings(i)["training.batch_size"] for i in range(3)] == ["b0", "b1", "b2"]
    with pytest.raises(IndexError):
        grid.settings(6)


def test_values_split_outside_brackets_and_repeats_are_one_point():
    grid = parse_grid(["training.fanouts=[10,5],[15,10],[10,5]"])
    assert grid.axes[0].values == ("[10,5]", "[15,10]")
    assert parse_grid({"training.fanouts": [[10, 5], [15, 10]]}).axes[0].values == ("[10, 5]", "[15, 10]")


def test_sample_is_seeded_sorted_and_whole_grid_when_large():
    grid = parse_grid(["training.batch_size=1,2,3,4,5,6,7,8", "partition.method=a,b,c"])
    a = grid.select(sample=5, seed=3)
    assert a == grid.select(sample=5, seed=3) and a == sorted(a) and len(set(a)) == 5
    assert any(grid.select(sample=5, seed=s) != a for s in range(4, 10))
    assert grid.select(sample=99, seed=0) == list(range(24))


def test_settings_key_ignores_order():
    assert settings_key({"a": "1", "b": "2"}) == settings_key({"b": "2", "a": "1"})


@pytest.mark.parametrize("varies, words", [
    (["training.batchsize=1,2"], ["unknown key 'batchsize'", "batch_size"]),
    (["trainng.batch_size=1"], ["unknown key 'trainng'", "training"]),
    (["training.batch_size.x=1"], ["is a value, not a section"]),
    (["training.batch_size="], ["no values"]),
    (["training.batch_size=,"], ["no values"]),
    (["training.batch_size"], ["expected KEY=V1,V2"]),
    (["training.batch_size=1", "training.batch_size=2"], ["given twice"]),
    ([], ["at least one --vary"]),
    ({"training.batch_size": []}, ["no values"]),
])
def test_bad_axes_are_one_line_errors(varies, words):
    with pytest.raises(SearchError) as err:
        parse_grid(varies)
    message = str(err.value)
    assert "\n" not in message
    for w in words:
        assert w in message
