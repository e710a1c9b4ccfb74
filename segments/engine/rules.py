"""Rule segments: staff-defined boolean rules over customer features, purchases and other segments.

A rule is a JSON-serialisable tree of dicts. Every node has exactly one of these shapes (no other
keys are allowed, so a typo such as ``"within_day"`` is an error rather than silently ignored):

=====================================================  =============================================
node                                                   matches customers who...
=====================================================  =============================================
``{"op": "and", "children": [node, ...]}``             match every child (at least one child)
``{"op": "or", "children": [node, ...]}``              match any child (at least one child)
``{"op": "not", "child": node}``                       are in ``features.index`` and do not match
``{"feature": "monetary", "cmp": ">", "value": 200}``  have that feature compared true; cmp is one
                                                       of ``> >= < <= == !=``; value is a number, or
                                                       a string for ``==``/``!=`` on a text column
``{"bought_category": "Candles & lighting",``          have a purchase row in that category with
``"within_days": 30}``                                 ``as_of - 30 days <= timestamp <= as_of``;
                                                       without ``within_days``: any time up to as_of
``{"bought_product": "85123A", "within_days": 90}``    the same, for one SKU
``{"in_segment": "Lost"}``                             are members of that other segment
=====================================================  =============================================

Rules nest at most ``MAX_DEPTH`` nodes deep (the root is depth 1).

Semantics worth knowing:

- **Missing feature values compare False**, for every ``cmp`` including ``!=``: a customer with no
  ``mean_interpurchase_days`` matches neither ``> 30`` nor ``!= 30``. ``NOT`` is the complement
  within ``features.index``, so ``NOT (x > 30)`` does include them.
- The universe is ``features.index``: purchases and segment members that are not in it are ignored.
- ``as_of`` defaults to the latest purchase timestamp, never the wall clock, so a rule evaluated on
  the same data gives the same answer; purchases after ``as_of`` never count.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

MAX_DEPTH = 10
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
TEXT_COMPARISONS = frozenset({"==", "!="})
BOOLEAN_OPS = ("and", "or", "not")

# Purchase-frame columns (one row per usable purchase line).
CUSTOMER = "customer"
SKU = "sku"
CATEGORY = "category"
TIMESTAMP = "timestamp"
PURCHASE_COLUMNS = (CUSTOMER, SKU, CATEGORY, TIMESTAMP)

# The key that identifies a node's kind → every key that node may carry.
_NODE_KEYS: dict[str, frozenset[str]] = {
    "op": frozenset({"op", "children", "child"}),
    "feature": frozenset({"feature", "cmp", "value"}),
    "bought_category": frozenset({"bought_category", "within_days"}),
    "bought_product": frozenset({"bought_product", "within_days"}),
    "in_segment": frozenset({"in_segment"}),
}


class RuleError(ValueError):
    """A rule tree that is malformed or refers to unknown features or segments.

    The message starts with the node's path in the tree (``$`` is the root,
    ``$.children[1].child`` a nested node) so a form can point at the culprit.
    """


def validate_rule(
    tree: object,
    *,
    features: Collection[str] | None = None,
    segments: Collection[str] | None = None,
) -> None:
    """Check a rule tree's shape; raise RuleError naming the first problem found.

    features: if given, the known feature names (``feature`` nodes must use one of them).
    segments: if given, the known segment names (``in_segment`` nodes must use one of them).
    Without them only the structure and value types are checked.
    """
    _validate(tree, "$", 1, features, segments)


def _validate(
    node: object,
    path: str,
    depth: int,
    features: Collection[str] | None,
    segments: Collection[str] | None,
) -> None:
    if depth > MAX_DEPTH:
        raise RuleError(f"{path}: rule is nested deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict):
        raise RuleError(f"{path}: a rule node must be an object, got {type(node).__name__}")
    kinds = [key for key in _NODE_KEYS if key in node]
    if len(kinds) != 1:
        expected = ", ".join(_NODE_KEYS)
        found = "none" if not kinds else " and ".join(kinds)
        raise RuleError(f"{path}: a rule node needs exactly one of {expected}; found {found}")
    kind = kinds[0]
    extra = sorted(str(key) for key in node if key not in _NODE_KEYS[kind])
    if extra:
        raise RuleError(f"{path}: unexpected key(s) {', '.join(extra)} in a {kind!r} node")

    if kind == "op":
        op = node["op"]
        if not isinstance(op, str) or op not in BOOLEAN_OPS:
            raise RuleError(f"{path}: unknown op {op!r}; expected one of {', '.join(BOOLEAN_OPS)}")
        if op == "not":
            if "children" in node or "child" not in node:
                raise RuleError(f'{path}: "not" takes a single "child" node')
            _validate(node["child"], f"{path}.child", depth + 1, features, segments)
            return
        children = node.get("children")
        if "child" in node or not isinstance(children, list):
            raise RuleError(f'{path}: "{op}" takes a "children" list')
        if not children:
            raise RuleError(f'{path}: "{op}" needs at least one child')
        for i, child in enumerate(children):
            _validate(child, f"{path}.children[{i}]", depth + 1, features, segments)
        return

    if kind == "feature":
        name = node["feature"]
        if not isinstance(name, str) or not name:
            raise RuleError(f"{path}: feature must be a non-empty string, got {name!r}")
        if features is not None and name not in features:
            known = ", ".join(sorted(features))
            raise RuleError(f"{path}: unknown feature {name!r}; known features: {known}")
        cmp = node.get("cmp")
        if not isinstance(cmp, str) or cmp not in COMPARISONS:
            raise RuleError(f"{path}: cmp must be one of {' '.join(COMPARISONS)}, got {cmp!r}")
        if "value" not in node:
            raise RuleError(f"{path}: feature comparison needs a value")
        value = node["value"]
        if isinstance(value, str):
            if cmp not in TEXT_COMPARISONS:
                raise RuleError(f"{path}: text value {value!r} can only be compared with == or !=")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise RuleError(
                f"{path}: value must be a number (or a string for == / !=), "
                f"got {type(value).__name__} {value!r}"
            )
        elif not math.isfinite(value):
            raise RuleError(f"{path}: value must be a finite number, got {value!r}")
        return

    if kind in ("bought_category", "bought_product"):
        target = node[kind]
        if not isinstance(target, str) or not target.strip():
            raise RuleError(f"{path}: {kind} must be a non-empty string, got {target!r}")
        if "within_days" in node:
            days = node["within_days"]
            if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                raise RuleError(f"{path}: within_days must be a whole number >= 1, got {days!r}")
        return

    name = node["in_segment"]
    if not isinstance(name, str) or not name:
        raise RuleError(f"{path}: in_segment must be a non-empty string, got {name!r}")
    if segments is not None and name not in segments:
        known = ", ".join(repr(s) for s in sorted(segments)) or "none"
        raise RuleError(f"{path}: unknown segment {name!r}; known segments: {known}")


def rule_mask(
    tree: Mapping[str, Any],
    *,
    features: pd.DataFrame,
    purchases: pd.DataFrame | None = None,
    segments: Mapping[str, Iterable[int]] | None = None,
    as_of: pd.Timestamp | None = None,
) -> pd.Series:
    """Boolean Series over ``features.index``: True where the customer matches the rule.

    features: customer feature frame, index = customer id (int64), one row per customer; it
        defines the universe of customers.
    purchases: usable purchase rows with columns customer (int), sku (str), category (str),
        timestamp (datetime64[ns, UTC]; naive timestamps are taken as UTC). Needed only by
        ``bought_*`` nodes.
    segments: segment name → member customer ids (pd.Index, set, any iterable). Needed only by
        ``in_segment`` nodes.
    as_of: the "now" of ``within_days`` windows (naive = UTC); default: the latest purchase.

    Raises RuleError for a bad tree (also for unknown features/segments and text/number
    mismatches) and ValueError when the purchases frame is missing or lacks columns.
    """
    validate_rule(
        tree,
        features=[str(c) for c in features.columns],
        segments=list(segments or {}),
    )
    context = _Context(features, purchases, segments, as_of, tree)
    return pd.Series(context.mask(tree, "$"), index=features.index, name="match", dtype=bool)


def evaluate_rule(
    tree: Mapping[str, Any],
    *,
    features: pd.DataFrame,
    purchases: pd.DataFrame | None = None,
    segments: Mapping[str, Iterable[int]] | None = None,
    as_of: pd.Timestamp | None = None,
) -> pd.Index:
    """Customer ids (from ``features.index``, in its order) matching the rule; see rule_mask."""
    mask = rule_mask(tree, features=features, purchases=purchases, segments=segments, as_of=as_of)
    return features.index[mask.to_numpy(dtype=bool)]


class _Context:
    """Evaluates nodes to numpy boolean arrays aligned with ``features.index``."""

    def __init__(
        self,
        features: pd.DataFrame,
        purchases: pd.DataFrame | None,
        segments: Mapping[str, Iterable[int]] | None,
        as_of: pd.Timestamp | None,
        tree: Mapping[str, Any],
    ) -> None:
        self.features = features
        self.index = features.index
        self.segments = segments or {}
        self.purchases: pd.DataFrame | None = None
        self.as_of: pd.Timestamp | None = None
        if _uses(tree, ("bought_category", "bought_product")):
            self.purchases, self.as_of = _prepare_purchases(purchases, as_of)

    def mask(self, node: Mapping[str, Any], path: str) -> np.ndarray:
        if "op" in node:
            if node["op"] == "not":
                return ~self.mask(node["child"], f"{path}.child")
            masks = [
                self.mask(child, f"{path}.children[{i}]")
                for i, child in enumerate(node["children"])
            ]
            combine = np.logical_and if node["op"] == "and" else np.logical_or
            return np.asarray(combine.reduce(masks, axis=0), dtype=bool)
        if "feature" in node:
            return self._compare(node, path)
        if "in_segment" in node:
            members = self.segments[node["in_segment"]]
            wanted = members if isinstance(members, pd.Index) else pd.Index(list(members))
            return np.asarray(self.index.isin(wanted), dtype=bool)
        return self._bought(node)

    def _compare(self, node: Mapping[str, Any], path: str) -> np.ndarray:
        name, cmp, value = node["feature"], node["cmp"], node["value"]
        column = self.features[name]
        compare = COMPARISONS[cmp]
        if pd.api.types.is_numeric_dtype(column.dtype):
            if isinstance(value, str):
                raise RuleError(f"{path}: feature {name!r} is numeric; compare it with a number")
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                result = np.asarray(compare(values, float(value)), dtype=bool)
            return result & ~np.isnan(values)
        if not isinstance(value, str):
            raise RuleError(
                f"{path}: feature {name!r} is text; compare it with == or != and a string"
            )
        present = column.notna().to_numpy(dtype=bool)
        text = column.astype(object).to_numpy()
        return np.asarray(compare(text, value), dtype=bool) & present

    def _bought(self, node: Mapping[str, Any]) -> np.ndarray:
        assert self.purchases is not None and self.as_of is not None  # set when bought_* is used
        purchases = self.purchases
        if "bought_category" in node:
            hit = purchases[CATEGORY].to_numpy() == node["bought_category"]
        else:
            hit = purchases[SKU].to_numpy() == node["bought_product"]
        if "within_days" in node:
            start = self.as_of - pd.Timedelta(days=int(node["within_days"]))
            hit &= (purchases[TIMESTAMP] >= start).to_numpy(dtype=bool)
        customers = purchases[CUSTOMER].to_numpy()[hit]
        return np.asarray(self.index.isin(np.unique(customers)), dtype=bool)


def _uses(node: object, kinds: tuple[str, ...]) -> bool:
    """Whether any node of the (already validated) tree has one of these kinds."""
    if not isinstance(node, Mapping):
        return False
    if any(kind in node for kind in kinds):
        return True
    if "child" in node:
        return _uses(node["child"], kinds)
    return any(_uses(child, kinds) for child in node.get("children", ()))


def _as_utc(value: pd.Timestamp) -> pd.Timestamp:
    return value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")


def _prepare_purchases(
    purchases: pd.DataFrame | None, as_of: pd.Timestamp | None
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Purchases with UTC timestamps up to as_of, and as_of itself (default: latest purchase)."""
    if purchases is None:
        raise ValueError("the rule uses bought_category/bought_product but no purchases were given")
    missing = [c for c in PURCHASE_COLUMNS if c not in purchases.columns]
    if missing:
        raise ValueError(f"purchases frame lacks columns {missing}")
    frame = purchases.loc[:, list(PURCHASE_COLUMNS)]
    stamps = pd.to_datetime(frame[TIMESTAMP])
    stamps = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    frame = frame.assign(**{TIMESTAMP: stamps})
    if as_of is None:
        latest = stamps.max()
        # No purchases at all: any as_of gives the same (empty) answer.
        as_of = pd.Timestamp(0, tz="UTC") if pd.isna(latest) else pd.Timestamp(latest)
    as_of = _as_utc(pd.Timestamp(as_of))
    return frame[(stamps <= as_of).to_numpy(dtype=bool)], as_of


def describe_rule(tree: Mapping[str, Any]) -> str:
    """A one-line reading of the rule, e.g.
    ``bought Candles & lighting in the last 30 days AND monetary > 200 AND NOT in segment "Lost"``.

    AND/OR children that are themselves AND/OR of the other kind are parenthesised, as is a
    combined child of NOT. Raises RuleError for a malformed tree.
    """
    validate_rule(tree)
    return _describe(tree)


def _describe(node: Mapping[str, Any]) -> str:
    if "op" in node:
        op = node["op"]
        if op == "not":
            child = node["child"]
            text = _describe(child)
            combined = "op" in child and child["op"] != "not" and len(child["children"]) > 1
            return f"NOT ({text})" if combined else f"NOT {text}"
        parts = []
        for child in node["children"]:
            text = _describe(child)
            mixed = "op" in child and child["op"] not in ("not", op) and len(child["children"]) > 1
            parts.append(f"({text})" if mixed else text)
        return f" {op.upper()} ".join(parts)
    if "feature" in node:
        return f"{node['feature']} {node['cmp']} {_format_value(node['value'])}"
    if "in_segment" in node:
        return f"in segment {_quote(node['in_segment'])}"
    what = (
        node["bought_category"]
        if "bought_category" in node
        else f"product {node['bought_product']}"
    )
    days = node.get("within_days")
    if days is None:
        return f"bought {what} at any time"
    return (
        f"bought {what} in the last day" if days == 1 else f"bought {what} in the last {days} days"
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format_value(value: object) -> str:
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)
