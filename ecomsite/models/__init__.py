from .base import BaseRun, RunStatus, TimeStampedModel
from .imports import ImportBatch, ImportFormat, ImportRejection, ImportSource, RejectionReason
from .shop import Customer, Event, EventKind, Product
from .tokens import PartnerToken, Scope

__all__ = [
    "BaseRun",
    "Customer",
    "Event",
    "EventKind",
    "ImportBatch",
    "ImportFormat",
    "ImportRejection",
    "ImportSource",
    "PartnerToken",
    "Product",
    "RejectionReason",
    "RunStatus",
    "Scope",
    "TimeStampedModel",
]
