"""Train a regression model on a table: imputation, scaling and one-hot encoding, then the model.

Algorithms: ``ridge`` (linear, regularised by ``alpha``), ``random_forest`` and
``gradient_boosting`` (``n_estimators``, ``max_depth``). Writes ``model.joblib`` (a
scikit-learn ``Pipeline`` taking the feature columns) and ``model.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from components.library.scripting import fail, output_folder, read_json, read_parquet, write_json
from components.metrics import log_metric


def build(schema: dict, algorithm: str, alpha: float, n_estimators: int, max_depth: int, seed: int) -> Pipeline:
    """The untrained pipeline: preprocessing of ``schema``'s columns, then ``algorithm``."""
    prep = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), schema["numeric"]),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore")), schema["categorical"]),
    ])
    depth = max_depth or None
    if algorithm == "ridge":
        model = Ridge(alpha=alpha)
    elif algorithm == "random_forest":
        model = RandomForestRegressor(n_estimators=n_estimators, max_depth=depth, random_state=seed, n_jobs=1)
    else:
        model = GradientBoostingRegressor(n_estimators=n_estimators, max_depth=max_depth or 3, random_state=seed)
    return Pipeline([("prep", prep), ("model", model)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--algorithm", choices=["ridge", "random_forest", "gradient_boosting"], default="gradient_boosting")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--n_estimators", type=int, default=200)
    parser.add_argument("--max_depth", type=int, default=3, help="0 = unlimited (random forest)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    if args.alpha < 0 or args.n_estimators < 1 or args.max_depth < 0:
        fail("parameters 'alpha' (>= 0), 'n_estimators' (>= 1) and 'max_depth' (>= 0) are out of range")
    data = read_parquet(args.train, "data.parquet", "train")
    schema = read_json(Path(args.train) / "schema.json", "train")
    target = schema["target"]
    features = schema["numeric"] + schema["categorical"]
    model = build(schema, args.algorithm, args.alpha, args.n_estimators, args.max_depth, args.seed)
    model.fit(data[features], data[target])
    fitted = model.predict(data[features])
    metrics = {"train_rmse": float(np.sqrt(mean_squared_error(data[target], fitted))),
               "train_r2": float(r2_score(data[target], fitted))}
    folder = output_folder(args.output)
    joblib.dump(model, folder / "model.joblib")
    write_json(folder / "model.json", {"kind": "sklearn-regressor", "algorithm": args.algorithm, "target": target,
                                       "features": features, "schema": schema, "metrics": metrics})
    print(f"{args.algorithm} on {len(data)} rows: train RMSE {metrics['train_rmse']:.3f}, R² {metrics['train_r2']:.4f}")
    for name, value in metrics.items():
        log_metric(name, value)


if __name__ == "__main__":
    main()
