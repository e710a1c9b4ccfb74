"""RFM quintiles and the named segment grid (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segments.engine.rfm import (
    GRID,
    SEGMENT_RULES,
    SEGMENTS,
    RfmResult,
    fm_score,
    rfm_result,
    rfm_scores,
    rfm_segment,
)

# customer: (recency_days, frequency, monetary)
TEN = {
    101: (2.0, 10, 500.0),
    102: (5.0, 8, 400.0),
    103: (1.0, 1, 20.0),
    104: (40.0, 9, 450.0),
    105: (60.0, 1, 10.0),
    106: (30.0, 3, 100.0),
    107: (90.0, 6, 300.0),
    108: (10.0, 2, 60.0),
    109: (20.0, 2, 50.0),
    110: (120.0, 1, 15.0),
    111: (np.nan, 0, 0.0),  # browsed only: not scored
}

# Ranks → quintiles of 2 customers each. Ties in frequency (103, 105, 110 have 1 order; 108 and
# 109 have 2) are split in customer-id order by rank(method="first").
EXPECTED = {
    #     r  f  m  FM  segment
    101: (5, 5, 5, "Champions"),  # FM 5
    102: (4, 4, 4, "Champions"),  # FM 4
    103: (5, 1, 2, "Potential loyalists"),  # FM (1 + 2) / 2 → 2
    104: (2, 5, 5, "At risk"),  # FM 5
    105: (2, 1, 1, "Hibernating"),  # FM 1
    106: (3, 3, 3, "Need attention"),  # FM 3
    107: (1, 4, 4, "Can't lose them"),  # FM 4
    108: (4, 2, 3, "Potential loyalists"),  # FM 2.5 → 3
    109: (3, 3, 2, "Need attention"),  # FM 2.5 → 3
    110: (1, 2, 1, "Hibernating"),  # FM 1.5 → 2
}

# R rows 5 → 1, FM columns 1 → 5 (the module docstring's grid)
EXPECTED_GRID = {
    5: ["New", "Potential loyalists", "Potential loyalists", "Champions", "Champions"],
    4: ["Promising", "Potential loyalists", "Potential loyalists", "Champions", "Champions"],
    3: ["About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"],
    2: ["Hibernating", "Hibernating", "At risk", "At risk", "At risk"],
    1: ["Lost", "Hibernating", "At risk", "Can't lose them", "Can't lose them"],
}


def features_of(rows: dict[int, tuple[float, int, float]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=["recency_days", "frequency", "monetary"]
    )
    frame.index = pd.Index(frame.index.astype(np.int64), name="customer")
    frame["views"] = 3  # other columns are ignored
    return frame


def test_ten_customers_exact_scores_and_segments():
    scores = rfm_scores(features_of(TEN))
    assert scores.index.name == "customer"
    assert scores.index.tolist() == list(range(101, 111))
    assert list(scores.columns) == ["r", "f", "m", "rfm", "segment"]
    got = {c: (row.r, row.f, row.m, row.segment) for c, row in scores.iterrows()}
    assert got == EXPECTED
    assert scores.loc[101, "rfm"] == "555"
    assert scores.loc[103, "rfm"] == "512"
    assert scores["r"].dtype == np.int64
    # equal-count quintiles: two customers per score
    for column in ("r", "f", "m"):
        assert scores[column].value_counts().sort_index().tolist() == [2] * 5


def test_customers_without_orders_are_excluded():
    result = rfm_result(features_of(TEN))
    assert isinstance(result, RfmResult)
    assert result.excluded.tolist() == [111]
    assert 111 not in result.scores.index


def test_deterministic_and_independent_of_row_order():
    features = features_of(TEN)
    shuffled = features.sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(rfm_scores(features), rfm_scores(shuffled))
    pd.testing.assert_frame_equal(rfm_scores(features), rfm_scores(features.copy()))


def test_single_and_no_customer():
    one = rfm_scores(features_of({7: (3.0, 2, 40.0)}))
    assert one.loc[7, ["r", "f", "m"]].tolist() == [3, 3, 3]
    assert one.loc[7, "segment"] == "Need attention"
    none = rfm_scores(features_of({8: (np.nan, 0, 0.0)}))
    assert none.empty and list(none.columns) == ["r", "f", "m", "rfm", "segment"]


def test_grid_matches_the_documented_map():
    for r, names in EXPECTED_GRID.items():
        assert [GRID[r - 1, fm - 1] for fm in range(1, 6)] == names


def test_every_cell_maps_to_exactly_one_segment():
    owners: dict[str, list[tuple[int, int]]] = {rule.name: [] for rule in SEGMENT_RULES}
    for r in range(1, 6):
        for fm in range(1, 6):
            matching = [rule.name for rule in SEGMENT_RULES if rule.matches(r, fm)]
            assert matching, (r, fm)  # covered by a rule
            assert GRID[r - 1, fm - 1] == matching[0]  # first match wins
            owners[matching[0]].append((r, fm))
    assert sum(len(cells) for cells in owners.values()) == 25
    assert all(owners.values()), [name for name, cells in owners.items() if not cells]


def test_segment_table():
    names = [name for name, _ in SEGMENTS]
    assert names == [rule.name for rule in SEGMENT_RULES]
    assert len(set(names)) == 11
    assert set(names) == {
        "Champions",
        "Loyal",
        "Potential loyalists",
        "New",
        "Promising",
        "Need attention",
        "About to sleep",
        "At risk",
        "Can't lose them",
        "Hibernating",
        "Lost",
    }
    definitions = dict(SEGMENTS)
    assert "R5 FM 4–5; R4 FM 4–5" in definitions["Champions"]


def test_rfm_segment_on_all_125_score_triples():
    r, f, m = (a.ravel() for a in np.meshgrid(*[np.arange(1, 6)] * 3, indexing="ij"))
    index = pd.RangeIndex(len(r)) + 1000
    segments = rfm_segment(pd.Series(r, index), pd.Series(f, index), pd.Series(m, index))
    assert segments.name == "segment"
    assert segments.index.equals(index)
    expected = [GRID[ri - 1, fm_score(fi, mi) - 1] for ri, fi, mi in zip(r, f, m, strict=True)]
    assert segments.tolist() == expected


def test_fm_rounds_half_up():
    assert [fm_score(1, 2), fm_score(2, 3), fm_score(4, 5), fm_score(3, 3)] == [2, 3, 5, 3]


@pytest.mark.parametrize("bad", [0, 6, np.nan])
def test_rfm_segment_rejects_scores_out_of_range(bad):
    with pytest.raises(ValueError):
        rfm_segment(pd.Series([3.0]), pd.Series([bad]), pd.Series([3]))
