"""Dashboard, customers and products pages on the Online Retail sample: exact figures."""

import pytest

from ecomsite.models import Customer, Product
from ecomsite.selectors import catalog, dashboard
from ecomsite.services.imports import import_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def sample(sample_path):
    return import_file(path=sample_path, format="online-retail")


def test_dashboard_figures(sample):
    figures = dashboard.dashboard_figures()
    # 76 events; 7 anonymous. Merchandise lines exclude POST, D, B x3, BANK CHARGES and M.
    assert (figures.events, figures.customers) == (76, 7)
    assert figures.anonymous_event_share == pytest.approx(7 / 76)
    # 536365: 15.30+20.34+22.00+20.34+20.34+15.30+25.50 = 139.12; 536370 clocks: 90+90+45 = 225;
    # C536383: -4.65; 536409: 234.27 (lines net of its 4 exact repeats); 536544: 2.51+5.02;
    # anonymous zero-price lines add 0
    expected = 139.12 + 225.0 - 4.65 + 2.51 + 5.02
    sales = {row["period"]: row for row in dashboard.sales_over_time()}
    assert list(sales) == ["2010-12-01"]
    assert figures.revenue == pytest.approx(sales["2010-12-01"]["revenue"])
    assert figures.revenue - expected == pytest.approx(_invoice_total("536409"), abs=0.01)
    assert figures.orders == 6  # 536365, 536370, 536414, 536589, 536409, 536544 (fee-only excluded)


def _invoice_total(invoice: str) -> float:
    from ecomsite.models import Event

    return float(sum(e.quantity * e.unit_price for e in Event.objects.filter(order_id=invoice)))


def test_dashboard_page_renders_charts_data(client, staff_user, sample):
    client.force_login(staff_user)
    page = client.get("/").content.decode()
    assert 'id="dashboard-charts"' in page
    assert page.count("data-chart=") == 3
    assert "vendor/chartjs-4.5.1/chart.umd.min.js" in page
    assert "Accepted but flagged for cleaning" in page


def test_dashboard_without_data_says_so(client, staff_user):
    client.force_login(staff_user)
    assert "No data yet." in client.get("/").content.decode()


def test_customer_search_and_page_figures(client, staff_user, sample):
    client.force_login(staff_user)
    page = client.get("/customers/", {"q": "1785"}).content.decode()
    assert 'href="/customers/17850/"' in page
    assert "/customers/12583/" not in page
    france = client.get("/customers/", {"country": "France"}).content.decode()
    assert "/customers/12583/" in france and "/customers/17850/" not in france


def test_customer_summary(sample):
    summary = catalog.customer_summary(customer=Customer.objects.get(external_id="12583"))
    # three alarm clocks: 24 + 24 + 12 at £3.75; the postage line is not merchandise
    assert (summary.orders, summary.units, summary.distinct_products) == (1, 60, 3)
    assert summary.revenue == pytest.approx(225.0)
    assert summary.average_order_value == pytest.approx(225.0)
    assert summary.monthly == [{"period": "2010-12-01", "revenue": 225.0, "orders": 1}]
    assert [c["category"] for c in summary.categories] == ["Home decor"]


def test_customer_page(client, staff_user, sample):
    client.force_login(staff_user)
    page = client.get("/customers/12583/").content.decode()
    assert "Customer 12583" in page and "France" in page
    assert "ALARM CLOCK BAKELIKE PINK" in page
    assert 'id="catalog-charts"' in page


def test_product_summary_and_page(client, staff_user, sample):
    product = Product.objects.get(external_id="85116")
    summary = catalog.product_summary(product=product)
    assert (summary.buyers, summary.orders, summary.units, summary.repeat_buyers) == (1, 1, 6, 0)
    client.force_login(staff_user)
    page = client.get("/products/85116/").content.decode()
    assert "BLACK CANDELABRA T-LIGHT HOLDER" in page and "Candles &amp; lighting" in page
    listing = client.get("/products/", {"q": "candelabra"}).content.decode()
    assert 'href="/products/85116/"' in listing


def test_unknown_customer_is_404(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/customers/404404/").status_code == 404


def test_months_without_purchases_are_zero_rows():
    rows = [
        {"period": "2010-12-01", "revenue": 5.0, "orders": 1},
        {"period": "2011-02-01", "revenue": 7.0, "orders": 2},
    ]
    assert catalog._every_month(rows) == [
        rows[0],
        {"period": "2011-01-01", "revenue": 0.0, "orders": 0},
        rows[1],
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(5830738.25, "£5.83m"), (58300, "£58.3k"), (1234.5, "£1,234.50"), (-20, "-£20"), (None, "–")],
)
def test_money_short(value, shown):
    from ecomsite.templatetags.ecomsite_format import money_short

    assert money_short(value) == shown
