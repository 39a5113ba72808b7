"""Split every CSV in --raw_data into train.csv and test.csv, stratified by species."""
import argparse
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw_data", required=True)
    parser.add_argument("--test_split_ratio", type=float, default=0.2)
    parser.add_argument("--random_state", type=int, default=7)
    parser.add_argument("--train_data", required=True)
    parser.add_argument("--test_data", required=True)
    args = parser.parse_args()

    files = sorted(Path(args.raw_data).glob("*.csv"))
    if not files:
        raise SystemExit(f"no CSV files in {args.raw_data}")
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    train, test = train_test_split(df, test_size=args.test_split_ratio, random_state=args.random_state,
                                   stratify=df["species"])
    Path(args.train_data).mkdir(parents=True, exist_ok=True)
    Path(args.test_data).mkdir(parents=True, exist_ok=True)
    train.to_csv(Path(args.train_data) / "train.csv", index=False)
    test.to_csv(Path(args.test_data) / "test.csv", index=False)
    print(f"rows: {len(df)}, train: {len(train)}, test: {len(test)}")


if __name__ == "__main__":
    main()
