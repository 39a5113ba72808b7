"""Fill or drop missing numeric values."""
import argparse

from common import NUMERIC, ensure, read_folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", required=True)
    parser.add_argument("--impute", choices=["median", "mean", "drop"], default="median")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    df = read_folder(args.raw)
    missing = int(df[NUMERIC].isna().sum().sum())
    if args.impute == "drop":
        df = df.dropna(subset=NUMERIC)
    else:
        fill = df[NUMERIC].median() if args.impute == "median" else df[NUMERIC].mean()
        df[NUMERIC] = df[NUMERIC].fillna(fill)
    df.to_csv(ensure(args.out) / "cleaned.csv", index=False)
    print(f"{missing} missing values handled by '{args.impute}', {len(df)} rows kept")


if __name__ == "__main__":
    main()
