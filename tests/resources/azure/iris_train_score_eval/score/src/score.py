"""Predict the species of every test row; write predictions.csv (true and predicted labels)."""
import argparse
from pathlib import Path

import joblib
import pandas as pd

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_input", required=True)
    parser.add_argument("--test_data", required=True)
    parser.add_argument("--score_output", required=True)
    args = parser.parse_args()

    model = joblib.load(Path(args.model_input) / "model.joblib")
    df = pd.concat([pd.read_csv(f) for f in sorted(Path(args.test_data).glob("*.csv"))], ignore_index=True)
    df["predicted"] = model.predict(df[FEATURES])
    out = Path(args.score_output)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "predictions.csv", index=False)
    print(f"scored {len(df)} rows")


if __name__ == "__main__":
    main()
