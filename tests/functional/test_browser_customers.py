"""Finding a customer in a real browser: search the list, open the customer's page and its
charts."""

from __future__ import annotations

import re

import pytest

from ecomsite.services.imports import import_file

api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = api.expect

pytestmark = pytest.mark.browser

CUSTOMER = "17850"


def test_viewer_searches_a_customer_and_opens_their_page(
    page, log_in, charts_drawn, shop_viewer, sample_path
):
    import_file(path=sample_path, format="online-retail")
    log_in(page, shop_viewer)
    # when they search the customer list for an id
    page.goto(f"/customers/?q={CUSTOMER}")
    expect(page.locator("h1")).to_have_text("Customers")
    result = page.get_by_role("link", name=CUSTOMER, exact=True)
    expect(result).to_have_count(1)
    # and open the result
    result.click()
    # then they see that customer's page
    expect(page).to_have_url(re.compile(rf"/customers/{CUSTOMER}/$"))
    expect(page.locator("h1")).to_contain_text(CUSTOMER)
    # with their charts drawn
    charts_drawn(page)
    assert page.js_errors == []
