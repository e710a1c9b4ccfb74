from django.core.management.base import BaseCommand, CommandError, CommandParser

from ecomsite.exceptions import DomainError
from ecomsite.models import Scope
from ecomsite.services.tokens import partner_token_create


class Command(BaseCommand):
    help = "Create a partner API token with scopes; prints the secret once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"comma-separated, from: {', '.join(Scope.values)}",
        )

    def handle(self, *args: object, **options: object) -> None:
        scopes = [s.strip() for s in str(options["scopes"]).split(",") if s.strip()]
        try:
            token, raw = partner_token_create(name=str(options["name"]), scopes=scopes)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"Token '{token.name}' with scopes {', '.join(token.scopes)}:")
        self.stdout.write(raw)
