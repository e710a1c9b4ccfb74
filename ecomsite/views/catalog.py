"""Customers and products: searchable lists and detail pages (history and key figures)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.views.generic import DetailView, ListView

from ecomsite.models import Customer, Product
from ecomsite.selectors import catalog
from recommendations import selectors as recommendations
from segments import prediction_selectors

from .base import RoleRequiredMixin

HISTORY_PAGE = 50
RECOMMENDATIONS_SHOWN = 10


class _SearchListMixin:
    """The search form's values back into the template."""

    request: Any

    def search_params(self) -> dict[str, str]:
        return {
            key: self.request.GET.get(key, "").strip()
            for key in ("q", "country", "category", "order")
        }


class CustomerListView(RoleRequiredMixin, _SearchListMixin, ListView):
    template_name = "ecomsite/customer_list.html"
    context_object_name = "customers"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[Customer]:
        params = self.search_params()
        return catalog.customer_list(
            query=params["q"], country=params["country"], order=params["order"] or "recent"
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        page = context["customers"]
        figures = catalog.customer_page_figures(customer_ids=[c.pk for c in page])
        context.update(
            rows=[(c, figures.get(c.pk, {})) for c in page],
            search=self.search_params(),
            countries=catalog.customer_countries(),
            orderings=catalog.CUSTOMER_ORDERINGS,
        )
        return context


class CustomerDetailView(RoleRequiredMixin, DetailView):
    template_name = "ecomsite/customer_detail.html"
    context_object_name = "customer"
    slug_field = "external_id"
    slug_url_kwarg = "external_id"
    queryset = Customer.objects.all()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        summary = catalog.customer_summary(customer=self.object)
        history = Paginator(catalog.customer_events(customer=self.object), HISTORY_PAGE)
        context.update(
            summary=summary,
            history=history.get_page(self.request.GET.get("page")),
            charts={"monthly": summary.monthly, "categories": summary.categories},
            recommendations=_customer_recommendations(self.object),
            # the customer's predictive scores, from the segments app like the recommendations
            prediction=prediction_selectors.customer_prediction(self.object),
        )
        return context


class ProductListView(RoleRequiredMixin, _SearchListMixin, ListView):
    template_name = "ecomsite/product_list.html"
    context_object_name = "products"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[Product]:
        params = self.search_params()
        return catalog.product_list(
            query=params["q"], category=params["category"], order=params["order"] or "id"
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        page = context["products"]
        figures = catalog.product_page_figures(product_ids=[p.pk for p in page])
        context.update(
            rows=[(p, figures.get(p.pk, {})) for p in page],
            search=self.search_params(),
            categories=catalog.product_categories(),
            orderings=catalog.PRODUCT_ORDERINGS,
        )
        return context


class ProductDetailView(RoleRequiredMixin, DetailView):
    template_name = "ecomsite/product_detail.html"
    context_object_name = "product"
    slug_field = "external_id"
    slug_url_kwarg = "external_id"
    queryset = Product.objects.all()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        summary = catalog.product_summary(product=self.object)
        history = Paginator(catalog.product_events(product=self.object), HISTORY_PAGE)
        context.update(
            summary=summary,
            history=history.get_page(self.request.GET.get("page")),
            charts={"weekly": summary.weekly},
            similar=_similar_products(self.object),
        )
        return context


# The recommendation cards read the recommendations app (the project's pages show every app's
# view of a customer or product); None when no model serves yet.


def _customer_recommendations(
    customer: Customer,
) -> recommendations.CustomerRecommendations | None:
    try:
        return recommendations.customer_recommendations(
            customer.external_id, k=RECOMMENDATIONS_SHOWN
        )
    except recommendations.NoServingModel:
        return None


def _similar_products(product: Product) -> recommendations.SimilarProducts | None:
    try:
        return recommendations.similar_products(product.external_id, k=RECOMMENDATIONS_SHOWN)
    except recommendations.NoServingModel:
        return None
