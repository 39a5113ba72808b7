"""Evaluate a trained text classifier on the test split.

Works with the model folder of ``text_train_baseline`` (scikit-learn, hashed features)
and of ``text_train_transformer`` (PyTorch, token ids; its ``text_model.py`` is
imported from the model folder). Writes ``metrics.json`` (accuracy, macro-F1, per-label
precision/recall/F1), ``confusion_matrix.png``, ``confusion_matrix.csv`` and
``predictions.parquet``; logs accuracy and macro-F1.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from components.library.scripting import fail, output_folder, read_json, write_json
from components.metrics import log_metric


def predict_sklearn(model_dir: Path, features: Path) -> np.ndarray:
    import joblib
    from scipy import sparse

    return joblib.load(model_dir / "model.joblib").predict(sparse.load_npz(features / "test_hashed.npz"))


def predict_transformer(model_dir: Path, features: Path) -> np.ndarray:
    try:
        import torch
    except ImportError:
        fail("evaluating a transformer model needs PyTorch, which is not installed; "
             "install it with: pip install 'ductwork[torch]'")
    sys.dont_write_bytecode = True  # never write __pycache__ into a committed artifact
    spec = importlib.util.spec_from_file_location("text_model", model_dir / "text_model.py")
    if spec is None or spec.loader is None or not (model_dir / "text_model.py").is_file():
        fail(f"input 'model' has no 'text_model.py' in '{model_dir}'; expected text_train_transformer's output")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, _ = module.load_model(model_dir, device)
    ids = np.load(features / "test_ids.npy")
    return module.predict(model, ids, 512, device).argmax(axis=1)


def plot_confusion(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    """A confusion-matrix heat map with counts, true labels down, predicted across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.8 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=100)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), value in np.ndenumerate(matrix):
        ax.text(col, row, str(value), ha="center", va="center", color="white" if value > threshold else "black")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})  # no version stamp: same model, same bytes
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--features", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    model_dir, features = Path(args.model), Path(args.features)
    info = read_json(model_dir / "model.json", "model")
    labels = read_json(features / "labels.json", "features")
    if info.get("labels") != labels:
        fail(f"the model was trained on labels {info.get('labels')} but input 'features' has {labels}; "
             "evaluate with the features the model was trained on")
    truth_file = features / "test_labels.npy"
    if not truth_file.is_file():
        fail(f"input 'features' has no 'test_labels.npy' in '{features}'; connect text_featurise's output")
    truth = np.load(truth_file)
    kind = info.get("kind")
    if kind == "sklearn":
        predicted = predict_sklearn(model_dir, features)
    elif kind == "transformer":
        predicted = predict_transformer(model_dir, features)
    else:
        fail(f"input 'model' has kind {kind!r} in model.json; expected 'sklearn' or 'transformer'")
    indexes = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=indexes, zero_division=0)
    metrics = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=indexes, average="macro", zero_division=0)),
        "rows": len(truth),
        "model_kind": kind,
        "per_label": {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for name, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)},
    }
    matrix = confusion_matrix(truth, predicted, labels=indexes)
    folder = output_folder(args.output)
    write_json(folder / "metrics.json", metrics)
    pd.DataFrame(matrix, index=labels, columns=labels).to_csv(folder / "confusion_matrix.csv")
    plot_confusion(matrix, labels, folder / "confusion_matrix.png",
                   f"{kind}: accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}")
    pd.DataFrame({"label": [labels[i] for i in truth], "predicted": [labels[i] for i in predicted]}).to_parquet(
        folder / "predictions.parquet", index=False)
    print(f"{kind} on {len(truth)} test rows: accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}")
    log_metric("accuracy", metrics["accuracy"])
    log_metric("macro_f1", metrics["macro_f1"])


if __name__ == "__main__":
    main()
