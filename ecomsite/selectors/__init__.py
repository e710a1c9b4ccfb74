"""Reads of the shop data, one module per concept: imports, dashboard, catalog."""
