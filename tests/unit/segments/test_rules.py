"""Rule segments: exact AND/OR/NOT matches, windows on a frozen as_of, segments, errors, text."""

import json

import numpy as np
import pandas as pd
import pytest

from segments.engine.rules import (
    MAX_DEPTH,
    RuleError,
    describe_rule,
    evaluate_rule,
    rule_mask,
    validate_rule,
)

AS_OF = pd.Timestamp("2024-06-30 12:00", tz="UTC")


@pytest.fixture
def features() -> pd.DataFrame:
    # customer:        1      2      3       4        5       6
    return pd.DataFrame(
        {
            "monetary": [50.0, 250.0, 300.0, np.nan, 1000.0, 10.0],
            "frequency": [1, 3, 5, 2, 12, 1],
            "top_category": ["Christmas", "Candles & lighting", None, "Christmas", "Home", ""],
        },
        index=pd.Index([1, 2, 3, 4, 5, 6], dtype="int64", name="customer"),
    )


@pytest.fixture
def purchases() -> pd.DataFrame:
    rows = [
        (2, "A1", "Candles & lighting", AS_OF - pd.Timedelta(days=3)),
        (3, "A1", "Candles & lighting", AS_OF - pd.Timedelta(days=30)),  # on the boundary: in
        (4, "A2", "Candles & lighting", AS_OF - pd.Timedelta(days=30, seconds=1)),  # just out
        (5, "B7", "Candles & lighting", AS_OF + pd.Timedelta(days=1)),  # after as_of: never
        (5, "B7", "Christmas", AS_OF - pd.Timedelta(days=100)),
        (6, "A1", "Christmas", AS_OF - pd.Timedelta(days=10)),
        (99, "A1", "Candles & lighting", AS_OF - pd.Timedelta(days=1)),  # not a known customer
    ]
    frame = pd.DataFrame(rows, columns=["customer", "sku", "category", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def ids(index: pd.Index) -> list[int]:
    return [int(i) for i in index]


def leaf(feature: str, cmp: str, value: object) -> dict:
    return {"feature": feature, "cmp": cmp, "value": value}


@pytest.mark.parametrize(
    ("cmp", "value", "expected"),
    [
        (">", 200, [2, 3, 5]),
        (">=", 250, [2, 3, 5]),
        ("<", 250, [1, 6]),
        ("<=", 250.0, [1, 2, 6]),
        ("==", 300, [3]),
        ("!=", 300, [1, 2, 5, 6]),  # customer 4 has no monetary: missing compares False
    ],
)
def test_feature_comparisons(features, cmp, value, expected):
    assert ids(evaluate_rule(leaf("monetary", cmp, value), features=features)) == expected


def test_and_or_not(features):
    # given: (monetary > 100 AND frequency >= 5) OR frequency == 2
    tree = {
        "op": "or",
        "children": [
            {
                "op": "and",
                "children": [leaf("monetary", ">", 100), leaf("frequency", ">=", 5)],
            },
            leaf("frequency", "==", 2),
        ],
    }
    assert ids(evaluate_rule(tree, features=features)) == [3, 4, 5]
    # NOT is the complement within features.index, so it takes the customer with no monetary too
    negated = {"op": "not", "child": leaf("monetary", ">", 100)}
    assert ids(evaluate_rule(negated, features=features)) == [1, 4, 6]
    both = {"op": "and", "children": [negated, {"op": "not", "child": leaf("frequency", "==", 1)}]}
    assert ids(evaluate_rule(both, features=features)) == [4]


def test_single_child_and_or(features):
    tree = {"op": "and", "children": [leaf("frequency", ">", 4)]}
    assert ids(evaluate_rule(tree, features=features)) == [3, 5]
    tree = {"op": "or", "children": [leaf("frequency", ">", 4)]}
    assert ids(evaluate_rule(tree, features=features)) == [3, 5]


def test_text_feature(features):
    tree = leaf("top_category", "==", "Christmas")
    assert ids(evaluate_rule(tree, features=features)) == [1, 4]
    # None is missing (False); "" is a value like any other
    tree = leaf("top_category", "!=", "Christmas")
    assert ids(evaluate_rule(tree, features=features)) == [2, 5, 6]


def test_mask_is_a_boolean_series_over_features_index(features):
    mask = rule_mask(leaf("frequency", ">", 2), features=features)
    assert mask.dtype == bool
    assert mask.index.equals(features.index)
    assert mask.tolist() == [False, True, True, False, True, False]


def test_result_keeps_features_order(features):
    shuffled = features.loc[[5, 1, 3, 2, 6, 4]]
    assert ids(evaluate_rule(leaf("frequency", ">", 2), features=shuffled)) == [5, 3, 2]


def test_bought_category_within_days(features, purchases):
    tree = {"bought_category": "Candles & lighting", "within_days": 30}
    result = evaluate_rule(tree, features=features, purchases=purchases, as_of=AS_OF)
    assert ids(result) == [2, 3]


def test_bought_category_any_time_stops_at_as_of(features, purchases):
    tree = {"bought_category": "Candles & lighting"}
    result = evaluate_rule(tree, features=features, purchases=purchases, as_of=AS_OF)
    assert ids(result) == [2, 3, 4]


def test_as_of_defaults_to_latest_purchase(features, purchases):
    # latest purchase: customer 5, one day after AS_OF; 30 days back from there drops customer 3
    tree = {"bought_category": "Candles & lighting", "within_days": 30}
    assert ids(evaluate_rule(tree, features=features, purchases=purchases)) == [2, 5]


def test_naive_as_of_is_utc(features, purchases):
    tree = {"bought_category": "Candles & lighting", "within_days": 30}
    naive = AS_OF.tz_localize(None)
    result = evaluate_rule(tree, features=features, purchases=purchases, as_of=naive)
    assert ids(result) == [2, 3]


def test_bought_product(features, purchases):
    tree = {"bought_product": "A1", "within_days": 90}
    result = evaluate_rule(tree, features=features, purchases=purchases, as_of=AS_OF)
    assert ids(result) == [2, 3, 6]


def test_in_segment_with_index_and_set(features):
    segments = {"Lost": pd.Index([1, 6, 42]), "VIP": {5, 3}}
    tree = {
        "op": "and",
        "children": [
            {"op": "not", "child": {"in_segment": "Lost"}},
            {"op": "or", "children": [{"in_segment": "VIP"}, leaf("frequency", "==", 2)]},
        ],
    }
    assert ids(evaluate_rule(tree, features=features, segments=segments)) == [3, 4, 5]


def test_combination_of_everything(features, purchases):
    # the example from describe_rule's docstring
    tree = {
        "op": "and",
        "children": [
            {"bought_category": "Candles & lighting", "within_days": 30},
            leaf("monetary", ">", 200),
            {"op": "not", "child": {"in_segment": "Lost"}},
        ],
    }
    segments = {"Lost": pd.Index([3])}
    result = evaluate_rule(
        tree, features=features, purchases=purchases, segments=segments, as_of=AS_OF
    )
    assert ids(result) == [2]
    # and the tree survives a JSON round trip unchanged
    assert json.loads(json.dumps(tree)) == tree


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ("monetary > 5", "$: a rule node must be an object, got str"),
        ({"op": "xor", "children": []}, "$: unknown op 'xor'; expected one of and, or, not"),
        ({"op": "and", "children": []}, '$: "and" needs at least one child'),
        ({"op": "or"}, '$: "or" takes a "children" list'),
        ({"op": "not", "children": [{"in_segment": "x"}]}, '$: "not" takes a single "child" node'),
        ({}, "$: a rule node needs exactly one of op, feature, bought_category"),
        ({"feature": "monetary", "in_segment": "x"}, "found feature and in_segment"),
        ({"feature": "monetary", "cmp": "=>", "value": 1}, "$: cmp must be one of > >= < <= == !="),
        ({"feature": "monetary", "cmp": ">"}, "$: feature comparison needs a value"),
        (
            leaf("monetary", ">", [1]),
            "$: value must be a number (or a string for == / !=), got list",
        ),
        (leaf("monetary", ">", True), "got bool True"),
        (leaf("monetary", ">", "200"), "$: text value '200' can only be compared with == or !="),
        (leaf("monetary", ">", float("nan")), "$: value must be a finite number"),
        (leaf("", ">", 1), "$: feature must be a non-empty string"),
        (
            {"bought_category": "Candles", "within_day": 30},
            "$: unexpected key(s) within_day in a 'bought_category' node",
        ),
        ({"bought_category": "Candles", "within_days": 0}, "within_days must be a whole number"),
        ({"bought_product": "A1", "within_days": 1.5}, "within_days must be a whole number"),
        ({"bought_product": " "}, "$: bought_product must be a non-empty string"),
        ({"in_segment": 3}, "$: in_segment must be a non-empty string, got 3"),
        (
            {"op": "and", "children": [leaf("monetary", ">", 1), {"op": "not", "child": []}]},
            "$.children[1].child: a rule node must be an object, got list",
        ),
    ],
)
def test_validation_errors(tree, message):
    with pytest.raises(RuleError) as excinfo:
        validate_rule(tree)
    assert message in str(excinfo.value)


def nested_not(depth: int) -> dict:
    tree: dict = leaf("monetary", ">", 1)
    for _ in range(depth - 1):
        tree = {"op": "not", "child": tree}
    return tree


def test_depth_limit():
    validate_rule(nested_not(MAX_DEPTH))
    with pytest.raises(RuleError, match="nested deeper than 10 levels"):
        validate_rule(nested_not(MAX_DEPTH + 1))


def test_unknown_feature_and_segment_at_evaluation(features):
    with pytest.raises(RuleError, match="unknown feature 'monetry'; known features: frequency"):
        evaluate_rule(leaf("monetry", ">", 1), features=features)
    with pytest.raises(RuleError, match="unknown segment 'Lost'; known segments: none"):
        evaluate_rule({"in_segment": "Lost"}, features=features)
    with pytest.raises(RuleError, match="known segments: 'VIP'"):
        evaluate_rule({"in_segment": "Lost"}, features=features, segments={"VIP": pd.Index([])})


def test_known_names_at_validation():
    validate_rule(leaf("monetary", ">", 1), features=["monetary"])
    with pytest.raises(RuleError, match="unknown feature 'frequency'"):
        validate_rule(leaf("frequency", ">", 1), features=["monetary"])


def test_type_mismatch_with_the_column(features):
    with pytest.raises(RuleError, match="'top_category' is text; compare it with == or !="):
        evaluate_rule(leaf("top_category", "==", 3), features=features)
    with pytest.raises(RuleError, match="'monetary' is numeric; compare it with a number"):
        evaluate_rule(leaf("monetary", "==", "big"), features=features)


def test_bought_without_purchases_is_an_error(features):
    with pytest.raises(ValueError, match="no purchases were given"):
        evaluate_rule({"bought_product": "A1"}, features=features)


@pytest.mark.parametrize(
    ("tree", "text"),
    [
        (
            {
                "op": "and",
                "children": [
                    {"bought_category": "Candles & lighting", "within_days": 30},
                    leaf("monetary", ">", 200),
                    {"op": "not", "child": {"in_segment": "Lost"}},
                ],
            },
            "bought Candles & lighting in the last 30 days AND monetary > 200"
            ' AND NOT in segment "Lost"',
        ),
        (
            {
                "op": "and",
                "children": [
                    {"op": "or", "children": [leaf("frequency", ">=", 5), {"in_segment": "VIP"}]},
                    {"op": "and", "children": [leaf("return_rate", "<", 0.25)]},
                ],
            },
            '(frequency >= 5 OR in segment "VIP") AND return_rate < 0.25',
        ),
        (
            {"op": "not", "child": {"op": "or", "children": [leaf("monetary", "<=", 10.0)]}},
            "NOT monetary <= 10",
        ),
        (
            {
                "op": "not",
                "child": {
                    "op": "and",
                    "children": [
                        {"bought_product": "85123A", "within_days": 1},
                        leaf("top_category", "==", 'The "Best"'),
                    ],
                },
            },
            'NOT (bought product 85123A in the last day AND top_category == "The \\"Best\\"")',
        ),
        ({"bought_category": "Christmas"}, "bought Christmas at any time"),
    ],
)
def test_describe_rule(tree, text):
    assert describe_rule(tree) == text


def test_describe_rejects_bad_trees():
    with pytest.raises(RuleError, match="unknown op"):
        describe_rule({"op": "nand", "children": [leaf("monetary", ">", 1)]})


def test_nullable_integer_column_missing_compares_false():
    features = pd.DataFrame(
        {"views": pd.array([3, None, 0], dtype="Int64")}, index=pd.Index([7, 8, 9], name="customer")
    )
    assert ids(evaluate_rule(leaf("views", "!=", 3), features=features)) == [9]
    assert ids(evaluate_rule({"op": "not", "child": leaf("views", ">", 0)}, features=features)) == [
        8,
        9,
    ]
