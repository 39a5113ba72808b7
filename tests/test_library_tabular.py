"""The built-in tabular components on the shipped house-prices table, run as Ductwork runs them."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

TABULAR = Path(__file__).resolve().parent.parent / "components" / "library" / "tabular"
REPO = TABULAR.parents[2]


def run_script(script: str, *args: object, metrics: Path | None = None, expect: int = 0) -> subprocess.CompletedProcess:
    path = TABULAR / script
    environment = {k: v for k, v in os.environ.items() if k != "DUCTWORK_METRICS_FILE"}
    environment.update({"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    if metrics is not None:
        environment["DUCTWORK_METRICS_FILE"] = str(metrics)
    result = subprocess.run([sys.executable, str(path), *map(str, args)], capture_output=True, text=True,
                            cwd=path.parent, env=environment, timeout=240)
    assert result.returncode == expect, f"{script} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tabular_chain")
    out = {name: root / name for name in ("dataset", "train", "test", "model", "scores")}
    out["train_metrics"], out["score_metrics"] = root / "train.jsonl", root / "score.jsonl"
    run_script("load_csv/load_csv.py", "--raw", TABULAR / "data", "--target_column", "price_k",
               "--output", out["dataset"])
    run_script("split/split.py", "--dataset", out["dataset"], "--test_fraction", 0.25, "--seed", 1,
               "--train", out["train"], "--test", out["test"])
    run_script("train_regressor/train_regressor.py", "--train", out["train"], "--algorithm", "ridge",
               "--output", out["model"], metrics=out["train_metrics"])
    run_script("score/score.py", "--model", out["model"], "--test", out["test"], "--output", out["scores"],
               metrics=out["score_metrics"])
    return out


def test_the_shipped_table_is_the_generators_output() -> None:
    spec = importlib.util.spec_from_file_location("_make_houses", TABULAR / "data" / "make_houses.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.generate(2000, 11).to_csv(index=False).encode() == (TABULAR / "data" / "houses.csv").read_bytes()


def test_load_records_the_schema(chain: dict[str, Path]) -> None:
    schema = json.loads((chain["dataset"] / "schema.json").read_text())
    assert schema == {"target": "price_k", "numeric": ["area_m2", "rooms", "age_years", "distance_km", "has_garden"],
                      "categorical": ["neighbourhood"]}
    assert len(pd.read_parquet(chain["dataset"] / "data.parquet")) == 2000


def test_split_sizes_and_schema_travel_along(chain: dict[str, Path]) -> None:
    train, test = (pd.read_parquet(chain[n] / "data.parquet") for n in ("train", "test"))
    assert (len(train), len(test)) == (1500, 500)
    assert (chain["test"] / "schema.json").read_bytes() == (chain["dataset"] / "schema.json").read_bytes()


def test_regressor_is_scored_with_metrics_logged(chain: dict[str, Path]) -> None:
    scores = json.loads((chain["scores"] / "metrics.json").read_text())
    assert scores["rows"] == 500 and scores["r2"] > 0.85 and scores["mae"] < scores["rmse"]
    logged = {json.loads(line)["name"]: json.loads(line)["value"]
              for line in chain["score_metrics"].read_text().splitlines()}
    assert logged == {"rmse": pytest.approx(scores["rmse"]), "mae": pytest.approx(scores["mae"]),
                      "r2": pytest.approx(scores["r2"])}
    assert {json.loads(line)["name"] for line in chain["train_metrics"].read_text().splitlines()} == {
        "train_rmse", "train_r2"}
    predictions = pd.read_parquet(chain["scores"] / "predictions.parquet")
    assert list(predictions.columns) == ["true", "predicted"] and len(predictions) == 500
    assert (chain["scores"] / "predicted_vs_true.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_target_column_is_named_with_the_columns_found(tmp_path: Path) -> None:
    failed = run_script("load_csv/load_csv.py", "--raw", TABULAR / "data" / "houses.csv", "--target_column",
                        "price", "--output", tmp_path / "out", expect=2)
    assert "parameter 'target_column' is 'price' but the table has the columns ['area_m2'" in failed.stderr
    assert "set it to the column to predict" in failed.stderr
