"""Helpers shared by the credit pipeline's scripts."""
from pathlib import Path

import pandas as pd

NUMERIC = ["age", "income", "credit_limit", "utilization", "late_payments"]
TARGET = "default"


def read_folder(folder: str) -> pd.DataFrame:
    files = sorted(Path(folder).glob("*.csv"))
    if not files:
        raise SystemExit(f"no CSV files in {folder}")
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def ensure(folder: str) -> Path:
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path
