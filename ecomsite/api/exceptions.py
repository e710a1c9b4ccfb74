"""Domain errors become 400/409 with a message; everything else keeps DRF's handling."""

from __future__ import annotations

import logging
from typing import Any

from django.db import OperationalError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ecomsite.exceptions import DomainError

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"detail": str(exc)}, status=exc.status_code)
    if isinstance(exc, OperationalError):
        # Busy or deadlocked after the service's own retries: tell the client to retry,
        # in the API's JSON shape rather than the HTML 500 page. Requests are idempotent.
        logger.warning("database busy: %s", exc)
        return Response(
            {"detail": "The database is busy; retry the request shortly."},
            status=503,
            headers={"Retry-After": "1"},
        )
    return drf_exception_handler(exc, context)
