"""RFM scores (quintiles 1–5) and the standard named RFM segments.

Input is the customer feature frame of ``segments.engine.features.customer_features`` (index
``customer``; columns ``recency_days``, ``frequency``, ``monetary`` are used).

**Who is scored.** Only buyers: customers with ``frequency`` > 0 and a finite ``recency_days`` and
``monetary``. Browsers without a counted order have no recency and would pile up in the bottom
quintiles, pushing real buyers up; they are reported in ``RfmResult.excluded`` instead.

**Scores.** Rows are sorted by customer id, then each measure is ranked with
``rank(method="first")`` and the ranks are cut into 5 equal-count bins with ``pd.qcut``:

* R from ``recency_days``: fewest days since the last order → 5 (ranked descending);
* F from ``frequency``: most orders → 5; M from ``monetary``: most revenue → 5.

Ranking first makes the bins equal-sized even when many customers share a value (most have one
order): ties are split in customer-id order, so equal values can get neighbouring scores, but the
result is fully deterministic. A single scored customer gets 3 in every score (one value has no
quintiles). ``rfm`` is the three digits as a string ("545").

**Segments.** FM = (F + M) / 2 rounded half up, i.e. ``(F + M + 1) // 2`` (1–5). The segment is
the first rule of ``SEGMENT_RULES`` whose R and FM ranges (inclusive) contain the customer:

====  ===================  =====  =====
rule  segment              R      FM
====  ===================  =====  =====
1     Champions            4–5    4–5
2     Can't lose them      1      4–5
3     Lost                 1      1
4     Hibernating          1–2    1–2
5     At risk              1–2    2–5
6     About to sleep       2–3    1–2
7     Need attention       2–3    2–3
8     Promising            3–4    1
9     New                  4–5    1
10    Potential loyalists  3–5    1–3
11    Loyal                2–5    3–5
====  ===================  =====  =====

The ranges are those of the common RFM segment map; the order puts the narrow, more specific
rules first so that every segment owns at least one cell and the grid matches the usual R × F
map (R 2 with high FM is "At risk", R 3 with low FM "About to sleep", R 4 × FM 1 "Promising",
R 5 × FM 1 "New"). Every one of the 25 (R, FM) cells maps to exactly one segment:

======  ===============  ===================  ===================  ===============  ===============
R \\ FM  1                2                    3                    4                5
======  ===============  ===================  ===================  ===============  ===============
5       New              Potential loyalists  Potential loyalists  Champions        Champions
4       Promising        Potential loyalists  Potential loyalists  Champions        Champions
3       About to sleep   About to sleep       Need attention       Loyal            Loyal
2       Hibernating      Hibernating          At risk              At risk          At risk
1       Lost             Hibernating          At risk              Can't lose them  Can't lose them
======  ===============  ===================  ===================  ===============  ===============
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ecomsite.engine import clean_columns as cc
from segments.engine.features import FREQUENCY, MONETARY, RECENCY_DAYS

R = "r"
F = "f"
M = "m"
RFM = "rfm"
SEGMENT = "segment"
SCORE_COLUMNS = (R, F, M, RFM, SEGMENT)

QUANTILES = 5
SCORES = tuple(range(1, QUANTILES + 1))
# Score given when only one customer is scored (no quintiles exist): the middle one.
SINGLE_CUSTOMER_SCORE = 3


@dataclass(frozen=True)
class SegmentRule:
    """One row of the segment table: R in [r_min, r_max] and FM in [fm_min, fm_max] (inclusive).

    meaning: plain-words description for staff.
    """

    name: str
    r_min: int
    r_max: int
    fm_min: int
    fm_max: int
    meaning: str

    def matches(self, r: int, fm: int) -> bool:
        return self.r_min <= r <= self.r_max and self.fm_min <= fm <= self.fm_max


# Ordered: the first matching rule wins (see the module docstring for the resulting grid).
SEGMENT_RULES: tuple[SegmentRule, ...] = (
    SegmentRule("Champions", 4, 5, 4, 5, "Bought recently, buy often and spend the most."),
    SegmentRule("Can't lose them", 1, 1, 4, 5, "Used to buy often and spend a lot, but long ago."),
    SegmentRule("Lost", 1, 1, 1, 1, "Lowest recency, frequency and spend."),
    SegmentRule("Hibernating", 1, 2, 1, 2, "Last order long ago, few orders, low spend."),
    SegmentRule("At risk", 1, 2, 2, 5, "Bought often or spent well, but not for a long time."),
    SegmentRule(
        "About to sleep", 2, 3, 1, 2, "Below-average recency, frequency and spend; slipping away."
    ),
    SegmentRule(
        "Need attention", 2, 3, 2, 3, "Average recency, frequency and spend; not seen lately."
    ),
    SegmentRule("Promising", 3, 4, 1, 1, "Fairly recent shoppers who have not spent much yet."),
    SegmentRule("New", 4, 5, 1, 1, "Bought very recently, but only once or little so far."),
    SegmentRule(
        "Potential loyalists", 3, 5, 1, 3, "Recent customers with average frequency and spend."
    ),
    SegmentRule("Loyal", 2, 5, 3, 5, "Buy regularly and spend well."),
)


def fm_score(f: int, m: int) -> int:
    """Combined frequency/monetary score: (F + M) / 2 rounded half up (1–5)."""
    return (f + m + 1) // 2


def _grid() -> npt.NDArray[np.object_]:
    """5 × 5 table of segment names, [R - 1, FM - 1] (first matching rule)."""
    grid = np.full((QUANTILES, QUANTILES), None, dtype=object)
    for r in SCORES:
        for fm in SCORES:
            grid[r - 1, fm - 1] = next(
                (rule.name for rule in SEGMENT_RULES if rule.matches(r, fm)), None
            )
    if any(name is None for name in grid.ravel()):
        raise AssertionError("SEGMENT_RULES leave an (R, FM) cell without a segment")
    return grid


# GRID[r - 1, fm - 1] is the segment of the cell (R, FM).
GRID = _grid()


def _cells(name: str) -> str:
    """The cells a segment owns, as "R5 FM 2–3; R4 FM 2–3"."""
    parts = []
    for r in reversed(SCORES):
        fms = [fm for fm in SCORES if GRID[r - 1, fm - 1] == name]
        if fms:
            span = f"{fms[0]}" if len(fms) == 1 else f"{fms[0]}–{fms[-1]}"
            parts.append(f"R{r} FM {span}")
    return "; ".join(parts)


# (name, definition) per segment, in rule order; dict(SEGMENTS) maps a name to its definition.
SEGMENTS: tuple[tuple[str, str], ...] = tuple(
    (
        rule.name,
        f"{rule.meaning} Cells: {_cells(rule.name)} (FM = (F + M) / 2, rounded half up).",
    )
    for rule in SEGMENT_RULES
)


@dataclass(frozen=True)
class RfmResult:
    """scores: index ``customer`` (int64, ascending), one row per scored customer; columns
    r, f, m (int64, 1–5), rfm (str, e.g. "545"), segment (str, a name of SEGMENTS).
    excluded: customer ids of the feature frame that were not scored (no counted order).
    """

    scores: pd.DataFrame
    excluded: pd.Index


def rfm_result(features: pd.DataFrame) -> RfmResult:
    """Quintile R, F, M scores and segments of every buyer in ``features`` (module docstring)."""
    missing = [c for c in (RECENCY_DAYS, FREQUENCY, MONETARY) if c not in features.columns]
    if missing:
        raise KeyError(f"feature frame lacks columns {missing}")
    frame = features[[RECENCY_DAYS, FREQUENCY, MONETARY]].astype(np.float64).sort_index()
    values = frame.to_numpy()
    buyer = np.isfinite(values).all(axis=1) & (values[:, 1] > 0)
    scored = frame[buyer]
    index = pd.Index(scored.index.to_numpy(dtype=np.int64), name=cc.CUSTOMER, dtype=np.int64)
    r = _quintile(scored[RECENCY_DAYS], ascending=False)
    f = _quintile(scored[FREQUENCY], ascending=True)
    m = _quintile(scored[MONETARY], ascending=True)
    digits = np.char.add(np.char.add(r.astype(str), f.astype(str)), m.astype(str))
    segment = rfm_segment(
        pd.Series(r, index=index), pd.Series(f, index=index), pd.Series(m, index=index)
    )
    scores = pd.DataFrame(
        {R: r, F: f, M: m, RFM: digits.astype(object), SEGMENT: segment.to_numpy(dtype=object)},
        index=index,
    )
    excluded = pd.Index(frame.index[~buyer].to_numpy(dtype=np.int64), name=cc.CUSTOMER)
    return RfmResult(scores=scores, excluded=excluded)


def rfm_scores(features: pd.DataFrame) -> pd.DataFrame:
    """``rfm_result(features).scores``: r, f, m, rfm, segment per buyer (index ``customer``)."""
    return rfm_result(features).scores


def rfm_segment(r: pd.Series[int], f: pd.Series[int], m: pd.Series[int]) -> pd.Series[str]:
    """Segment name per row from aligned R, F, M scores (ints 1–5): the GRID cell (R, FM).

    Returns an object Series named ``segment`` with ``r``'s index. Raises ValueError for scores
    outside 1–5 or missing.
    """
    scores = [pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64) for s in (r, f, m)]
    for name, values in zip((R, F, M), scores, strict=True):
        if len(values) and not np.isin(values, SCORES).all():
            raise ValueError(f"{name} scores must be integers 1–{QUANTILES}")
    if not len(r) == len(f) == len(m):
        raise ValueError("r, f and m must have the same length")
    r_i, f_i, m_i = (values.astype(np.int64) for values in scores)
    fm = (f_i + m_i + 1) // 2
    return pd.Series(GRID[r_i - 1, fm - 1], index=r.index, name=SEGMENT, dtype=object)


def _quintile(values: pd.Series[float], *, ascending: bool) -> npt.NDArray[np.int64]:
    """Equal-count score 1–5 per value (5 = largest if ascending else smallest); ties split in
    row order by ``rank(method="first")``."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(values) == 1:
        return np.full(1, SINGLE_CUSTOMER_SCORE, dtype=np.int64)
    ranks = values.rank(method="first", ascending=ascending)
    bins = pd.qcut(ranks, QUANTILES, labels=False)
    return np.asarray(bins, dtype=np.int64) + 1
