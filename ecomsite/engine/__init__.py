"""Django-free numerics for the shop data: parsing, cleaning rules, synthetic data.

Nothing in this package may import Django, DRF or Celery (tests/unit/test_engine_purity.py checks).
"""
