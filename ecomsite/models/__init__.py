from .base import BaseRun, RunStatus, TimeStampedModel
from .cleaning import CleaningRun
from .imports import ImportBatch, ImportFormat, ImportRejection, ImportSource, RejectionReason
from .shop import Customer, Event, EventKind, Product
from .tokens import PartnerToken, Scope

__all__ = [
    "BaseRun",
    "CleaningRun",
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
