from django.apps import AppConfig


class EcomsiteConfig(AppConfig):
    name = "ecomsite"
    verbose_name = "Shop data"
    default_auto_field = "django.db.models.BigAutoField"
