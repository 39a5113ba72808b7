"""Fit a scaled logistic regression; write the model and its test metrics."""
import argparse
import json

import joblib
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from common import TARGET, ensure, read_folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--c", type=float, default=1.0)
    parser.add_argument("--class_weight", default=None)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()

    train, test = read_folder(args.train), read_folder(args.test)
    x_cols = [c for c in train.columns if c != TARGET]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=args.c, class_weight=args.class_weight,
                                                               max_iter=1000))
    model.fit(train[x_cols], train[TARGET])
    proba = model.predict_proba(test[x_cols])[:, 1]
    metrics = {"auc": float(roc_auc_score(test[TARGET], proba)),
               "accuracy": float(accuracy_score(test[TARGET], proba > 0.5)), "c": args.c}
    out = ensure(args.model)
    joblib.dump(model, out / "model.joblib")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
