"""The dashboard: the shop at a glance, on charts."""

from __future__ import annotations

from typing import Any

from django.views.generic import TemplateView

from ecomsite.selectors import cleaning, dashboard, imports
from segments import prediction_selectors

from .base import RoleRequiredMixin


class DashboardView(RoleRequiredMixin, TemplateView):
    template_name = "ecomsite/dashboard.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        last_import = dashboard.last_finished_import()
        products = dashboard.top_products(limit=10)
        # The predictive scores come from the segments app (the dashboard shows every app's view
        # of the shop, as the customer page shows recommendations); None before the first run.
        predictions = prediction_selectors.prediction_glance()
        context.update(
            figures=dashboard.dashboard_figures(),
            charts={
                "sales": dashboard.sales_over_time(period="month"),
                "categories": dashboard.top_categories(),
                "products": products,
                "scores": predictions.charts if predictions else {},
            },
            predictions=predictions,
            top_products=products,
            last_import=last_import,
            last_import_quality=imports.import_quality_rows(batch=last_import)
            if last_import
            else [],
            last_import_rejections=(
                imports.import_rejection_counts(batch=last_import) if last_import else {}
            ),
            last_cleaning=cleaning.cleaning_run_latest(),
        )
        return context
