"""Every model is in the admin, searchable and filterable; runs are read-only."""

import pytest
from django.contrib import admin

from ecomsite.models import ImportBatch
from tests.factories import EventFactory, ImportRejectionFactory, PartnerTokenFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_with_data(admin_client):
    EventFactory()
    ImportRejectionFactory()
    PartnerTokenFactory()
    return admin_client


@pytest.mark.parametrize(
    "model", ["customer", "product", "event", "importbatch", "importrejection", "partnertoken"]
)
def test_changelists_search_and_filter(admin_client_with_data, model):
    url = f"/admin/ecomsite/{model}/"
    assert admin_client_with_data.get(url).status_code == 200
    assert admin_client_with_data.get(url, {"q": "C0"}).status_code == 200


def test_every_model_is_registered():
    from django.apps import apps

    for model in apps.get_app_config("ecomsite").get_models():
        model_admin = admin.site._registry[model]
        assert model_admin.search_fields, model
        assert model_admin.list_display != ("__str__",), model


def test_import_batches_are_read_only(admin_client_with_data):
    batch = ImportBatch.objects.get()
    assert (
        admin_client_with_data.get(f"/admin/ecomsite/importbatch/{batch.pk}/change/").status_code
        == 200
    )
    assert admin_client_with_data.get("/admin/ecomsite/importbatch/add/").status_code == 403


def test_adding_a_token_in_the_admin_shows_the_secret_once(admin_client):
    response = admin_client.post(
        "/admin/ecomsite/partnertoken/add/",
        {
            "name": "shopfront",
            "scopes": '["recommendations:read"]',
            "expires_at_0": "",
            "expires_at_1": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "copy it now, it is not shown again" in text
    from ecomsite.models import PartnerToken

    token = PartnerToken.objects.get(name="shopfront")
    assert token.scopes == ["recommendations:read"]
    assert token.key_hash not in text
