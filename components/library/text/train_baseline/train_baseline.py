"""Train a fast baseline text classifier: TF-IDF weighting + a linear model (scikit-learn).

Reads the hashed n-gram counts of ``text_featurise``, learns TF-IDF weights and a
logistic regression or a linear SVM on the training split, reports accuracy and
macro-F1 on the validation split, and writes ``model.joblib`` (a scikit-learn
``Pipeline`` that takes hashed counts) with ``model.json`` describing it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import joblib
import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from components.library.scripting import fail, output_folder, read_json, write_json
from components.metrics import log_metric


def load_split(features: Path, split: str) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Hashed counts and label indexes of ``split``."""
    matrix, labels = features / f"{split}_hashed.npz", features / f"{split}_labels.npy"
    if not matrix.is_file() or not labels.is_file():
        fail(f"input 'features' lacks '{matrix.name}' or '{labels.name}' in '{features}'; "
             "connect the output of text_featurise")
    return sparse.load_npz(matrix), np.load(labels)


def build(algorithm: str, c: float, max_iter: int, seed: int) -> Pipeline:
    """The untrained scikit-learn pipeline for ``algorithm``."""
    if algorithm == "logistic_regression":
        model = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
    else:
        model = LinearSVC(C=c, max_iter=max_iter, random_state=seed)
    return Pipeline([("tfidf", TfidfTransformer(sublinear_tf=True)), ("model", model)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", required=True)
    parser.add_argument("--algorithm", choices=["logistic_regression", "linear_svm"], default="linear_svm")
    parser.add_argument("--c", type=float, default=1.0)
    parser.add_argument("--max_iter", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    if args.c <= 0 or args.max_iter < 1:
        fail(f"parameters 'c' ({args.c}) must be > 0 and 'max_iter' ({args.max_iter}) >= 1")
    features = Path(args.features)
    classes = read_json(features / "labels.json", "features")
    x_train, y_train = load_split(features, "train")
    x_valid, y_valid = load_split(features, "valid")
    pipeline = build(args.algorithm, args.c, args.max_iter, args.seed)
    started = time.perf_counter()
    pipeline.fit(x_train, y_train)
    seconds = time.perf_counter() - started
    predicted = pipeline.predict(x_valid)
    metrics = {
        "train_accuracy": float(accuracy_score(y_train, pipeline.predict(x_train))),
        "valid_accuracy": float(accuracy_score(y_valid, predicted)),
        "valid_macro_f1": float(f1_score(y_valid, predicted, average="macro")),
    }
    folder = output_folder(args.output)
    joblib.dump(pipeline, folder / "model.joblib")
    write_json(folder / "model.json", {"kind": "sklearn", "algorithm": args.algorithm, "input": "hashed",
                                       "labels": classes, "metrics": metrics})
    print(f"{args.algorithm}: valid accuracy {metrics['valid_accuracy']:.4f}, "
          f"valid macro-F1 {metrics['valid_macro_f1']:.4f} (fit {seconds:.1f}s)")
    for name, value in metrics.items():
        log_metric(name, value)
    log_metric("fit_seconds", seconds)  # logged, not written: the output stays byte-identical


if __name__ == "__main__":
    main()
