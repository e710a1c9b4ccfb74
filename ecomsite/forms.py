from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from ecomsite.models import ImportFormat
from ecomsite.roles import ROLE_BY_GROUP, Role
from ecomsite.services.imports import FILE_FORMATS


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        help_text="CSV or JSON Lines, plain or gzip-compressed (.gz). "
        f"At most {settings.IMPORT_UPLOAD_MAX_BYTES // 1024**2:,} MB."
    )
    format = forms.ChoiceField(
        choices=[(f.value, f.label) for f in FILE_FORMATS],
        initial=ImportFormat.ONLINE_RETAIL,
        help_text="Online Retail: the UCI export's columns. Generic CSV/JSONL: see the README.",
    )

    def clean_file(self) -> object:
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                f"This file is {upload.size / 1024**2:,.0f} MB; uploads may be at most "
                f"{settings.IMPORT_UPLOAD_MAX_BYTES // 1024**2:,} MB. "
                "Use `manage.py import_events` for larger files."
            )
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        return upload


class UserRoleForm(forms.Form):
    role = forms.ChoiceField(
        choices=[("", "No access")] + [(r.group_name, r.label) for r in Role],
        required=False,
        help_text="Viewer: read only. Editor: also segments and campaigns. "
        "Admin: also imports, models, schedules and users.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def clean_role(self) -> Role | None:
        value = self.cleaned_data["role"]
        return ROLE_BY_GROUP[value] if value else None


class UserCreateForm(UserCreationForm):  # type: ignore[type-arg]
    role = forms.ChoiceField(choices=[(r.group_name, r.label) for r in Role], initial="viewer")

    class Meta:
        model = get_user_model()
        fields = ("username", "email")

    def clean_role(self) -> Role:
        return ROLE_BY_GROUP[self.cleaned_data["role"]]
