"""Load a CSV table (a file, or every ``*.csv`` of a folder) with a numeric target column into Parquet.

Writes ``data.parquet`` and ``schema.json`` (the target, the numeric and categorical
feature columns): later steps read the target from there, so it is named once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from components.library.scripting import fail, output_folder, write_json


def csv_files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if not source.is_dir():
        fail(f"input 'raw' path '{source}' does not exist; expected a CSV file or a folder of CSV files")
    files = sorted(source.rglob("*.csv"))
    if not files:
        fail(f"input 'raw' folder '{source}' holds no .csv file; expected at least one")
    return files


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True)
    parser.add_argument("--target_column", default="price_k")
    parser.add_argument("--separator", default=",")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    frames = []
    for path in csv_files(Path(args.raw)):
        try:
            frames.append(pd.read_csv(path, sep=args.separator))
        except (ValueError, OSError) as exc:
            fail(f"file '{path.name}' of input 'raw' cannot be read as CSV with separator {args.separator!r}: {exc}")
    data = pd.concat(frames, ignore_index=True)
    target = args.target_column
    if target not in data.columns:
        fail(f"parameter 'target_column' is '{target}' but the table has the columns {list(data.columns)}; "
             "set it to the column to predict")
    data[target] = pd.to_numeric(data[target], errors="coerce")
    missing = int(data[target].isna().sum())
    if missing == len(data):
        fail(f"target column '{target}' holds no numbers; a regression needs a numeric target")
    data = data[data[target].notna()].reset_index(drop=True)
    features = [c for c in data.columns if c != target]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(data[c])]
    categorical = [c for c in features if c not in numeric]
    for column in categorical:
        data[column] = data[column].astype("string")
    folder = output_folder(args.output)
    data.to_parquet(folder / "data.parquet", index=False)
    write_json(folder / "schema.json", {"target": target, "numeric": numeric, "categorical": categorical})
    print(f"loaded {len(data)} rows ({missing} without a target dropped); numeric {numeric}, categorical {categorical}")


if __name__ == "__main__":
    main()
