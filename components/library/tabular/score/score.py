"""Score a trained regression model on a test table: RMSE, MAE, R², predictions and a plot."""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from components.library.scripting import fail, output_folder, read_json, read_parquet, write_json
from components.metrics import log_metric


def plot(truth: np.ndarray, predicted: np.ndarray, path: Path, title: str) -> None:
    """Predicted against true values, with the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.scatter(truth, predicted, s=6, alpha=0.5)
    low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="black", linewidth=1)
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    info = read_json(Path(args.model) / "model.json", "model")
    if info.get("kind") != "sklearn-regressor":
        fail(f"input 'model' has kind {info.get('kind')!r}; expected the output of tabular_train_regressor")
    data = read_parquet(args.test, "data.parquet", "test")
    missing = [c for c in info["features"] + [info["target"]] if c not in data.columns]
    if missing:
        fail(f"input 'test' lacks the columns {missing} the model was trained with; score it on the same table's split")
    model = joblib.load(Path(args.model) / "model.joblib")
    truth = data[info["target"]].to_numpy(dtype=float)
    predicted = model.predict(data[info["features"]])
    metrics = {"rmse": float(np.sqrt(mean_squared_error(truth, predicted))),
               "mae": float(mean_absolute_error(truth, predicted)),
               "r2": float(r2_score(truth, predicted)), "rows": len(truth)}
    folder = output_folder(args.output)
    write_json(folder / "metrics.json", metrics)
    pd.DataFrame({"true": truth, "predicted": predicted}).to_parquet(folder / "predictions.parquet", index=False)
    plot(truth, predicted, folder / "predicted_vs_true.png",
         f"{info['algorithm']}: RMSE {metrics['rmse']:.2f}, R² {metrics['r2']:.3f}")
    print(f"test on {len(truth)} rows: RMSE {metrics['rmse']:.3f}, MAE {metrics['mae']:.3f}, R² {metrics['r2']:.4f}")
    for name in ("rmse", "mae", "r2"):
        log_metric(name, metrics[name])


if __name__ == "__main__":
    main()
