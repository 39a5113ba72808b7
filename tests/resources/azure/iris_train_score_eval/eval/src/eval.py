"""Compute accuracy and macro F1 from predictions.csv; write metrics.json and a confusion matrix."""
import argparse
import json
from pathlib import Path

import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scoring_result", required=True)
    parser.add_argument("--eval_output", required=True)
    args = parser.parse_args()

    df = pd.read_csv(Path(args.scoring_result) / "predictions.csv")
    labels = sorted(df["species"].unique())
    metrics = {
        "accuracy": float(accuracy_score(df["species"], df["predicted"])),
        "f1_macro": float(f1_score(df["species"], df["predicted"], average="macro")),
        "rows": int(len(df)),
    }
    out = Path(args.eval_output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    matrix = pd.DataFrame(confusion_matrix(df["species"], df["predicted"], labels=labels), index=labels,
                          columns=labels)
    matrix.to_csv(out / "confusion_matrix.csv")
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
