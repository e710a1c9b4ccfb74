"""Segment pages: list with sizes and trends, RFM grid, movements, detail, rule builder."""
