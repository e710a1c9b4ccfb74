"""Staff pages of the segments app: segments (segments.py) and the pipeline (pipeline.py)."""
