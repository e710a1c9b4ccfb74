"""Roles in a real browser: a viewer neither sees nor reaches what only admins may do."""

from __future__ import annotations

import pytest

api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = api.expect

pytestmark = pytest.mark.browser


def test_viewer_sees_no_upload_link_and_is_refused_the_upload_page(page, log_in, shop_viewer):
    log_in(page, shop_viewer)
    # the Imports page offers a viewer nothing to upload
    page.goto("/imports/")
    expect(page.locator("h1")).to_have_text("Imports")
    expect(page.get_by_role("link", name="Upload a file")).to_have_count(0)
    # and going to the upload page by its address gets the 403 page
    response = page.goto("/imports/new/")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("You can’t do that")
    expect(page.locator("input[name=file]")).to_have_count(0)
