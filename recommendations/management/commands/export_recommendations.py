import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ecomsite.exceptions import DomainError
from recommendations.services.export import recommendations_export


class Command(BaseCommand):
    help = (
        "Write the serving model's top-k recommendations of every customer with purchase history "
        "as CSV: customer_id,rank,product_id,score,model (ids as imported)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--k", type=int, default=50, help="recommendations per customer")
        parser.add_argument("--output", required=True, help="CSV file to write ('-': stdout)")

    def handle(self, *args: object, **options: object) -> None:
        k = options["k"]
        assert isinstance(k, int)
        output = str(options["output"])
        try:
            if output == "-":
                summary = recommendations_export(k=k, output=sys.stdout)
            else:
                with open(output, "w", newline="", encoding="utf-8") as handle:
                    summary = recommendations_export(k=k, output=handle)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"{summary.rows:,} rows for {summary.customers:,} customers from {summary.model} "
            f"({summary.filled_customers:,} filled up from fallback lists) in {summary.seconds}s"
        )
