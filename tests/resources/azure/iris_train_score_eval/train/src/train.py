"""Train a random forest on train.csv and save it with joblib."""
import argparse
import json
from pathlib import Path

import joblib
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--training_data", required=True)
    parser.add_argument("--n_estimators", type=int, default=100)
    parser.add_argument("--max_depth", type=int, default=None)
    parser.add_argument("--random_state", type=int, default=0)
    parser.add_argument("--model_output", required=True)
    args = parser.parse_args()

    df = pd.concat([pd.read_csv(f) for f in sorted(Path(args.training_data).glob("*.csv"))], ignore_index=True)
    model = RandomForestClassifier(n_estimators=args.n_estimators, max_depth=args.max_depth,
                                   random_state=args.random_state)
    model.fit(df[FEATURES], df["species"])
    out = Path(args.model_output)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    info = {"n_estimators": args.n_estimators, "max_depth": args.max_depth, "train_rows": len(df),
            "train_accuracy": float(model.score(df[FEATURES], df["species"]))}
    (out / "model_info.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info))


if __name__ == "__main__":
    main()
