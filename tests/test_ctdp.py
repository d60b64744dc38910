"""Reader of the CTDP instances of the districting literature: values, adjacency, errors by line."""

from __future__ import annotations

import pytest

from terrmap.io.ctdp import ACTIVITIES, parse_ctdp, read_ctdp

# Four units in a square, two districts, tolerances 5 %, 10 %, 5 %::
#
#   2 --- 3
#   |  \  |
#   0 --- 1
SQUARE = """4
0 0 0 4 100 20
1 10 0 6 200 30
2 0 10 5 150 25
3 10 10 7 250 35
5
0 1
0 2
1 3
2 3
2 1
2 50 0.05 0.1 0.05
"""


def test_square_is_read_as_written(tmp_path):
    path = tmp_path / "square.in"
    path.write_text(SQUARE, encoding="utf-8")
    instance = read_ctdp(path)
    assert instance.name == "square.in"
    assert list(instance.units.columns) == ["x", "y", *ACTIVITIES]
    assert instance.units.loc[3].tolist() == [10.0, 10.0, 7.0, 250.0, 35.0]
    assert instance.edges.tolist() == [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]
    assert instance.districts == 2
    assert instance.tolerances == {"customers": 0.05, "demand": 0.1, "workload": 0.05}


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (SQUARE.replace("1 10 0 6 200 30", "1 10 0 6 200"), "line 3: a unit"),
        (SQUARE.replace("3 10 10 7 250 35", "3 10 10 7 x 35"), "line 5: a unit"),
        (SQUARE.replace("2 0 10 5 150 25", "5 0 10 5 150 25"), "line 4: unit ids"),
        (SQUARE.replace("2 3\n", "2 9\n"), "line 10: edge to unit '9'"),
        (SQUARE.replace("0 1\n0 2", "0 1\n0 0"), "line 8: edge from unit 0 to itself"),
        (SQUARE.replace("2 50 0.05", "7 50 0.05"), "line 12: '7' districts for 4 units"),
        (SQUARE.replace("0.1 0.05\n", "-0.1 0.05\n"), "line 12: a tolerance is negative"),
        (SQUARE.rsplit("2 50", 1)[0], "ends before the districts"),
        (SQUARE + "1 2\n", "line 13: unexpected text"),
    ],
)
def test_broken_files_name_the_line(broken, message):
    with pytest.raises(ValueError, match=message):
        parse_ctdp(broken)


def test_missing_file_and_its_name_in_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_ctdp(tmp_path / "none.in")
    path = tmp_path / "bad.in"
    path.write_text("x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.in: line 1"):
        read_ctdp(path)
