"""Describe one numeric column of a CSV folder with pandas; write summary.json."""
import argparse
import json
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", required=True)
    parser.add_argument("--column", required=True)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--summary", required=True)
    args = parser.parse_args()

    df = pd.concat([pd.read_csv(f) for f in sorted(Path(args.table).glob("*.csv"))], ignore_index=True)
    if args.column not in df.columns:
        raise SystemExit(f"column '{args.column}' not in {list(df.columns)}")
    col = df[args.column]
    summary = {k: (None if pd.isna(v) else float(v)) for k, v in col.describe().items()}
    summary["largest"] = [float(v) for v in col.nlargest(args.top)]
    out = Path(args.summary)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
