"""Add ratio features, one-hot encode education, and split into train and test."""
import argparse

import numpy as np
from sklearn.model_selection import train_test_split

from common import TARGET, ensure, read_folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cleaned", required=True)
    parser.add_argument("--test_size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    args = parser.parse_args()

    df = read_folder(args.cleaned)
    df["limit_to_income"] = df["credit_limit"] / df["income"].clip(lower=1)
    df["log_income"] = np.log1p(df["income"])
    df = df.join(df.pop("education").str.get_dummies().add_prefix("edu_"))
    df = df.drop(columns=["id"])
    train, test = train_test_split(df, test_size=args.test_size, random_state=args.seed, stratify=df[TARGET])
    train.to_csv(ensure(args.train) / "train.csv", index=False)
    test.to_csv(ensure(args.test) / "test.csv", index=False)
    print(f"features: {len(df.columns) - 1}, train rows: {len(train)}, test rows: {len(test)}")


if __name__ == "__main__":
    main()
