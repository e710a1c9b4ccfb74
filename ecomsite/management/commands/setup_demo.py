import hashlib
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from ecomsite.models import Customer, ImportBatch, RunStatus

DEMO_DATA = settings.BASE_DIR / "data" / "online_retail_2010-12_2011-08.csv.gz"

# Synthetic consent for the demo: the Online Retail data has none, and campaigns never target a
# customer without consent for the channel, so without these flags no one could be reached. Each
# customer's flag per channel is a pure function of (seed, channel, customer id): the same on
# every machine and every run, whatever the row order. Shares are typical opt-in rates.
DEMO_CONSENT_SHARES = {
    "email_consent": 0.70,
    "sms_consent": 0.40,
    "push_consent": 0.50,
    "ads_consent": 0.60,
}
DEMO_CONSENT_SEED = 6
# Customers.attributes key marking where the flags came from; customers that already have it (or
# any consent flag set) are never touched again, so real consent is never overwritten.
CONSENT_SOURCE = "consent_source"
CONSENT_BATCH = 2_000


def demo_consent_flag(seed: int, channel: str, external_id: str, share: float) -> bool:
    """True for a `share` of customers: a uniform draw from the hash of the three keys."""
    digest = hashlib.sha256(f"{seed}:{channel}:{external_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def demo_consent_assign(*, seed: int = DEMO_CONSENT_SEED) -> int:
    """Give every customer without consent information synthetic flags; returns how many."""
    pending = (
        Customer.objects.exclude(attributes__has_key=CONSENT_SOURCE)
        .filter(**dict.fromkeys(DEMO_CONSENT_SHARES, False))
        .order_by("pk")
    )
    done = 0
    now = timezone.now()
    while batch := list(pending[:CONSENT_BATCH]):
        for customer in batch:
            customer.updated_at = now
            for name, share in DEMO_CONSENT_SHARES.items():
                setattr(customer, name, demo_consent_flag(seed, name, customer.external_id, share))
            customer.attributes = {
                **(customer.attributes or {}),
                CONSENT_SOURCE: f"synthetic (setup_demo, seed {seed})",
            }
        Customer.objects.bulk_update(
            batch, [*DEMO_CONSENT_SHARES, "attributes", "updated_at"], batch_size=CONSENT_BATCH
        )
        done += len(batch)
    return done


class Command(BaseCommand):
    help = (
        "Prepare the demo: an admin account (password generated once, kept in var/), the bundled "
        "Online Retail data imported (skipped when already done). Says where to log in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, default=DEMO_DATA)
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/")
        parser.add_argument(
            "--consent-seed",
            type=int,
            default=DEMO_CONSENT_SEED,
            help="Seed of the synthetic campaign consent given to customers without any "
            "(about 70%% email, 40%% SMS, 50%% push, 60%% ads)",
        )

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
        seed = options["consent_seed"]
        assert isinstance(seed, int)
        given = demo_consent_assign(seed=seed)
        if given:
            self.stdout.write(
                f"==> Synthetic campaign consent for {given:,} customers (seed {seed}): the "
                "demo data has none"
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
