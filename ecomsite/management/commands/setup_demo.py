import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from ecomsite.models import ImportBatch, RunStatus

DEMO_DATA = settings.BASE_DIR / "data" / "online_retail_2010-12_2011-08.csv.gz"


class Command(BaseCommand):
    help = (
        "Prepare the demo: an admin account (password generated once, kept in var/), the bundled "
        "Online Retail data imported (skipped when already done). Says where to log in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, default=DEMO_DATA)
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args: object, **options: object) -> None:
        username = str(options["username"])
        password = self._admin(username)
        data = options["data"]
        assert isinstance(data, Path)
        done = ImportBatch.objects.filter(
            file_name=data.name, status=RunStatus.SUCCEEDED, rows_accepted__gt=0
        ).exists()
        if done:
            self.stdout.write(f"==> Demo data already imported ({data.name})")
        else:
            self.stdout.write(f"==> Importing the demo data ({data.name}, 320,705 rows)")
            call_command(
                "import_events", str(data), "--format", "online-retail", stdout=self.stdout
            )
        self.stdout.write("")
        self.stdout.write(f"    Open {options['url']} and log in as '{username}'")
        if password:
            self.stdout.write(f"    password: {password}   (also in {self._password_file()})")
        else:
            self.stdout.write(
                "    with the password you set (reset it: "
                f"python manage.py changepassword {username})"
            )
        self.stdout.write(
            f"    API docs: {options['url']}api/v1/docs/   Admin: {options['url']}admin/"
        )
        self.stdout.write("")

    def _password_file(self) -> Path:
        return Path(settings.VAR_DIR) / "admin-password.txt"

    def _admin(self, username: str) -> str | None:
        """Create the admin with a random password on first run; return the password if known."""
        users = get_user_model().objects
        path = self._password_file()
        if users.filter(username=username).exists():
            return path.read_text().strip() if path.exists() else None
        password = secrets.token_urlsafe(12)
        users.create_superuser(username, email="", password=password)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)
        return password
