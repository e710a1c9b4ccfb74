"""The dashboard in a real browser: log in through the form, and every chart is drawn."""

from __future__ import annotations

import pytest

from ecomsite.services.imports import import_file

api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = api.expect

pytestmark = pytest.mark.browser


def test_admin_logs_in_and_sees_the_dashboard_charts(
    page, live_server, log_in, charts_drawn, shop_admin, sample_path
):
    # given a shop with data
    batch = import_file(path=sample_path, format="online-retail")
    assert batch.rows_accepted == 76
    # when an admin logs in through the form
    log_in(page, shop_admin)
    # then they land on the dashboard
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("h1")).to_have_text("Dashboard")
    # and every chart on it has been drawn by Chart.js
    expect(page.locator("canvas[data-chart]").first).to_be_visible()
    charts = charts_drawn(page)
    assert {c["chart"] for c in charts} >= {"sales", "categories", "products"}, charts
    assert page.js_errors == []
