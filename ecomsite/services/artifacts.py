"""Artifact files of runs (Parquet frames) under ARTIFACTS_DIR, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from django.conf import settings


def artifact_dir(*parts: str | int) -> Path:
    path = Path(settings.ARTIFACTS_DIR).joinpath(*(str(p) for p in parts))
    path.mkdir(parents=True, exist_ok=True)
    return path


def frame_save(frame: pd.DataFrame, path: Path, *, index: bool = False) -> Path:
    """Write Parquet to a temporary name, then rename: readers never see half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_parquet(tmp, index=index)
    os.replace(tmp, path)
    return path


def frame_load(path: str | Path, *, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, columns=columns)
