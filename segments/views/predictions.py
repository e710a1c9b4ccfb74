"""The Predictions page: the prediction run in use, whether its data suffice, the fitted model,
and its backtest beside the naive baseline, so staff can judge how far to trust the scores."""

from __future__ import annotations

from typing import Any

from django.views.generic import TemplateView

from ecomsite.views.base import RoleRequiredMixin
from segments import prediction_selectors as predictions
from segments.selectors import prediction_current

# The backtest's calibration charts: (deciles key, title, value-axis title, chart value kind).
CALIBRATION_CHARTS = (
    ("orders", "Orders per customer", "Orders (mean per customer)", "count"),
    ("revenue", "Revenue per customer", "Revenue (mean per customer, £)", "money"),
    ("churn", "Churn risk", "Share with no order", "percent"),
)


def _calibration(backtest: predictions.BacktestSummary | None) -> list[dict[str, Any]]:
    if backtest is None or backtest.skipped:
        return []
    return [
        {
            "key": key,
            "title": title,
            "y_title": y_title,
            "kind": kind,
            "rows": backtest.deciles[key],
        }
        for key, title, y_title, kind in CALIBRATION_CHARTS
    ]


class PredictionDetailView(RoleRequiredMixin, TemplateView):
    template_name = "segments/predictions.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        run = prediction_current()
        if run is None:
            context.update(run=None)
            return context
        backtest = predictions.prediction_backtest(run)
        context.update(
            run=run,
            model_name=predictions.model_name((run.metrics or {}).get("model", "")),
            level=(run.metrics or {}).get("level"),
            bootstrap=(run.metrics or {}).get("bootstrap"),
            fit=predictions.prediction_fit(run),
            backtest=backtest,
            scores=predictions.prediction_distributions(run),
            calibration=_calibration(backtest),
            charts={"deciles": backtest.deciles if backtest is not None else {}},
        )
        return context
