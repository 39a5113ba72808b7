"""The built-in text components, each script run as Ductwork runs it: a subprocess with folder paths.

One module-scoped chain (generate → load → clean → split → tokenizer → featurise) on 700
synthetic rows feeds the tests; the training steps run on it once each.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

TEXT = Path(__file__).resolve().parent.parent / "components" / "library" / "text"
REPO = TEXT.parents[2]


def run_script(script: str, *args: object, metrics: Path | None = None, env: dict[str, str] | None = None,
               expect: int = 0) -> subprocess.CompletedProcess:
    """Run ``components/library/text/<script>`` with ``args``; assert its exit status."""
    path = TEXT / script
    environment = {k: v for k, v in os.environ.items() if k != "DUCTWORK_METRICS_FILE"}
    environment["PYTHONPATH"] = str(REPO)
    environment["OMP_NUM_THREADS"] = "1"  # as Ray sets it for a 1-CPU step; oversubscribed torch crawls
    if metrics is not None:
        environment["DUCTWORK_METRICS_FILE"] = str(metrics)
    environment.update(env or {})
    result = subprocess.run([sys.executable, str(path), *map(str, args)], capture_output=True, text=True,
                            cwd=path.parent, env=environment, timeout=240)
    assert result.returncode == expect, f"{script} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def import_script(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_lib_{Path(script).stem}", TEXT / script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every prep step's output folder (and metrics file) for 700 generated rows."""
    root = tmp_path_factory.mktemp("text_chain")
    out = {name: root / name for name in ("raw", "dataset", "clean", "train", "valid", "test", "tokenizer",
                                           "features")}
    out["clean_metrics"] = root / "clean_metrics.jsonl"
    out["tokenizer_metrics"] = root / "tokenizer_metrics.jsonl"
    run_script("make_dataset/make_dataset.py", "--rows", 700, "--seed", 3, "--output", out["raw"])
    run_script("load/load.py", "--raw", out["raw"], "--output", out["dataset"])
    run_script("clean/clean.py", "--dataset", out["dataset"], "--min_chars", 10, "--max_chars", 1000,
               "--output", out["clean"], metrics=out["clean_metrics"])
    run_script("split/split.py", "--dataset", out["clean"], "--seed", 5, "--train", out["train"],
               "--valid", out["valid"], "--test", out["test"])
    run_script("train_tokenizer/train_tokenizer.py", "--train", out["train"], "--vocab_size", 500,
               "--output", out["tokenizer"], metrics=out["tokenizer_metrics"])
    run_script("featurise/featurise.py", "--train", out["train"], "--valid", out["valid"], "--test", out["test"],
               "--tokenizer", out["tokenizer"], "--max_length", 48, "--hash_features", 4096,
               "--output", out["features"])
    return out


def test_generator_is_deterministic_and_the_shipped_sample_is_its_output() -> None:
    generator = import_script("make_dataset/make_dataset.py")
    first, again, other = generator.generate(300, 7), generator.generate(300, 7), generator.generate(300, 8)
    assert first.equals(again) and not first.equals(other)
    assert set(first.columns) == {"id", "text", "label"} and first["label"].nunique() == 6
    shipped = (TEXT / "data" / "news_topics.csv").read_bytes()
    assert generator.generate(4000, 7).to_csv(index=False).encode() == shipped


def test_generated_data_gives_the_cleaner_real_work(chain: dict[str, Path]) -> None:
    raw = pd.read_parquet(chain["dataset"] / "data.parquet")
    stats = json.loads((chain["clean"] / "stats.json").read_text())
    assert stats["rows_in"] == len(raw) == 700
    assert stats["duplicates"] > 0 and stats["too_short"] > 0 and stats["too_long"] > 0
    assert stats["rows_out"] == stats["rows_in"] - stats["duplicates"] - stats["too_short"] - stats["too_long"]


def test_clean_normalises_filters_and_deduplicates(chain: dict[str, Path]) -> None:
    clean = pd.read_parquet(chain["clean"] / "data.parquet")
    lengths = clean["text"].str.len()
    assert lengths.between(10, 1000).all()
    assert not clean["text"].duplicated().any()
    assert (clean["text"] == clean["text"].str.lower()).all()
    assert not clean["text"].str.contains("  ").any() and (clean["text"] == clean["text"].str.strip()).all()
    logged = {m["name"]: m["value"] for m in read_metrics(chain["clean_metrics"])}
    assert logged["rows_out"] == len(clean) and logged["rows_in"] == 700


def test_clean_removes_case_and_space_variants_keeping_the_majority_label(tmp_path: Path) -> None:
    dataset, out = tmp_path / "dataset", tmp_path / "out"
    dataset.mkdir()
    pd.DataFrame({"text": ["Hello  World again", "hello world again ", "HELLO WORLD AGAIN", "ok", "another text here"],
                  "label": ["a", "b", "b", "a", ""]}).to_parquet(dataset / "data.parquet")
    run_script("clean/clean.py", "--dataset", dataset, "--min_chars", 5, "--output", out)
    clean = pd.read_parquet(out / "data.parquet")
    assert clean[["text", "label"]].values.tolist() == [["hello world again", "b"]]
    assert json.loads((out / "stats.json").read_text()) == {
        "rows_in": 5, "empty_label": 1, "too_short": 1, "too_long": 0, "duplicates": 2, "rows_out": 1}


def test_load_reads_csv_jsonl_and_parquet_files_of_one_folder(tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    (folder / "more").mkdir(parents=True)
    pd.DataFrame({"body": ["from csv", "csv again"], "topic": ["x", "y"]}).to_csv(folder / "a.csv", index=False)
    pd.DataFrame({"body": ["from jsonl"], "topic": ["y"]}).to_json(folder / "b.jsonl", orient="records", lines=True)
    pd.DataFrame({"body": ["from parquet"], "topic": ["z"], "extra": [1]}).to_parquet(folder / "more" / "c.parquet")
    (folder / "README.md").write_text("not data")
    run_script("load/load.py", "--raw", folder, "--text_column", "body", "--label_column", "topic",
               "--output", tmp_path / "out")
    loaded = pd.read_parquet(tmp_path / "out" / "data.parquet")
    assert loaded.values.tolist() == [["from csv", "x", "a.csv"], ["csv again", "y", "a.csv"],
                                      ["from jsonl", "y", "b.jsonl"], ["from parquet", "z", "c.parquet"]]


def test_load_names_missing_columns_and_empty_folders(tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    pd.DataFrame({"body": ["a"], "topic": ["x"]}).to_csv(folder / "d.csv", index=False)
    failed = run_script("load/load.py", "--raw", folder, "--output", tmp_path / "o", expect=2)
    assert "file 'd.csv' has no column 'text', 'label'; it has ['body', 'topic']" in failed.stderr
    assert "'text_column' and 'label_column'" in failed.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = run_script("load/load.py", "--raw", empty, "--output", tmp_path / "o2", expect=2)
    assert "holds no .csv, .jsonl, .json or .parquet file" in failed.stderr


def test_split_is_stratified_disjoint_and_seeded(chain: dict[str, Path], tmp_path: Path) -> None:
    clean = pd.read_parquet(chain["clean"] / "data.parquet")
    parts = {name: pd.read_parquet(chain[name] / "data.parquet") for name in ("train", "valid", "test")}
    assert sum(len(p) for p in parts.values()) == len(clean)
    assert len(parts["test"]) == pytest.approx(0.2 * len(clean), abs=2)
    assert len(parts["valid"]) == pytest.approx(0.1 * len(clean), abs=2)
    texts = [set(p["text"]) for p in parts.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    share = clean["label"].value_counts(normalize=True)
    test_share = parts["test"]["label"].value_counts(normalize=True)
    assert (test_share - share).abs().max() < 0.03
    run_script("split/split.py", "--dataset", chain["clean"], "--seed", 5, "--train", tmp_path / "tr",
               "--valid", tmp_path / "va", "--test", tmp_path / "te")
    assert pd.read_parquet(tmp_path / "te" / "data.parquet").equals(parts["test"])


def test_tokenizer_learns_a_wordpiece_vocabulary_deterministically(chain: dict[str, Path], tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    run_script("train_tokenizer/train_tokenizer.py", "--train", chain["train"], "--vocab_size", 500,
               "--output", tmp_path / "again")
    assert (tmp_path / "again" / "tokenizer.json").read_bytes() == (chain["tokenizer"] / "tokenizer.json").read_bytes()

    tokenizer = Tokenizer.from_file(str(chain["tokenizer"] / "tokenizer.json"))
    assert tokenizer.token_to_id("[PAD]") == 0 and tokenizer.token_to_id("[UNK]") == 1
    assert 100 < tokenizer.get_vocab_size() <= 500
    encoded = tokenizer.encode("The striker scored in the final")
    assert encoded.tokens == ["the", "striker", "scored", "in", "the", "final"]
    assert tokenizer.encode("tehs").tokens == ["t", "##e", "##h", "##s"]  # unknown words fall back to pieces
    logged = {m["name"]: m["value"] for m in read_metrics(chain["tokenizer_metrics"])}
    assert logged["vocab_size"] == tokenizer.get_vocab_size()


def test_featurise_writes_padded_ids_hashed_counts_and_labels(chain: dict[str, Path]) -> None:
    from scipy import sparse

    features = chain["features"]
    labels = json.loads((features / "labels.json").read_text())
    assert labels == sorted(pd.read_parquet(chain["train"] / "data.parquet")["label"].unique())
    for split in ("train", "valid", "test"):
        rows = len(pd.read_parquet(chain[split] / "data.parquet"))
        ids = np.load(features / f"{split}_ids.npy")
        assert ids.shape == (rows, 48) and ids.dtype == np.int32
        assert (ids[:, 0] != 0).all()  # every text has a first token; padding (0) only at the end
        hashed = sparse.load_npz(features / f"{split}_hashed.npz")
        assert hashed.shape == (rows, 4096) and hashed.nnz > rows
        assert set(np.load(features / f"{split}_labels.npy")) <= set(range(len(labels)))
    assert (features / "tokenizer.json").read_bytes() == (chain["tokenizer"] / "tokenizer.json").read_bytes()


def test_baseline_trains_evaluates_and_logs(chain: dict[str, Path], tmp_path: Path) -> None:
    model, evaluation = tmp_path / "model", tmp_path / "evaluation"
    train_metrics, eval_metrics = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    run_script("train_baseline/train_baseline.py", "--features", chain["features"], "--output", model,
               metrics=train_metrics)
    assert json.loads((model / "model.json").read_text())["kind"] == "sklearn"
    logged = {m["name"]: m["value"] for m in read_metrics(train_metrics)}
    assert logged["valid_accuracy"] > 0.6 and 0 < logged["valid_macro_f1"] <= 1
    run_script("evaluate/evaluate.py", "--model", model, "--features", chain["features"], "--output", evaluation,
               metrics=eval_metrics)
    metrics = json.loads((evaluation / "metrics.json").read_text())
    test_rows = len(pd.read_parquet(chain["test"] / "data.parquet"))
    assert metrics["rows"] == test_rows and metrics["accuracy"] > 0.6
    assert pd.read_csv(evaluation / "confusion_matrix.csv", index_col=0).to_numpy().sum() == test_rows
    assert (evaluation / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    logged = {m["name"]: (m["value"], m["step"]) for m in read_metrics(eval_metrics)}
    assert logged["accuracy"] == (pytest.approx(metrics["accuracy"]), None)
    assert logged["macro_f1"] == (pytest.approx(metrics["macro_f1"]), None)


def test_transformer_loss_decreases_and_the_model_folder_serves_predictions(chain: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="the optional extra ductwork[torch] is not installed")
    model, evaluation, metrics = tmp_path / "model", tmp_path / "evaluation", tmp_path / "train.jsonl"
    result = run_script("train_transformer/train_transformer.py", "--features", chain["features"],
                        "--epochs", 6, "--d_model", 32, "--n_heads", 2, "--dim_feedforward", 64,
                        "--learning_rate", 0.005, "--batch_size", 32, "--output", model, metrics=metrics)
    if torch.cuda.is_available():
        assert "GPU visible" in result.stdout and "training on CUDA" in result.stdout
    else:
        assert "no GPU visible: training on CPU" in result.stdout
    logged = read_metrics(metrics)
    losses = [m["value"] for m in logged if m["name"] == "train_loss"]
    assert [m["step"] for m in logged if m["name"] == "train_loss"] == [1, 2, 3, 4, 5, 6]
    assert losses[-1] < losses[0] * 0.5 and losses[3] < losses[0], losses  # seeds 0-3: last/first 0.14-0.26
    assert {m["name"] for m in logged} == {"train_loss", "valid_loss", "valid_accuracy"}
    assert {p.name for p in model.iterdir()} == {"model.pt", "model.json", "text_model.py", "tokenizer.json"}
    run_script("evaluate/evaluate.py", "--model", model, "--features", chain["features"], "--output", evaluation)
    assert json.loads((evaluation / "metrics.json").read_text())["model_kind"] == "transformer"
    assert not (model / "__pycache__").exists()  # evaluating never writes into a (committed) model folder


def test_transformer_without_torch_says_how_to_install_it(chain: dict[str, Path], tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "torch"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('simulated: PyTorch is not installed')\n")
    failed = run_script("train_transformer/train_transformer.py", "--features", chain["features"],
                        "--output", tmp_path / "model", env={"PYTHONPATH": f"{shadow.parent}{os.pathsep}{REPO}"},
                        expect=2)
    assert "component 'text_train_transformer' needs PyTorch" in failed.stderr
    assert "pip install 'ductwork[torch]'" in failed.stderr


def test_transformer_refuses_cuda_when_no_gpu_is_visible(chain: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the optional extra ductwork[torch] is not installed")
    failed = run_script("train_transformer/train_transformer.py", "--features", chain["features"], "--device",
                        "cuda", "--output", tmp_path / "model", env={"CUDA_VISIBLE_DEVICES": ""}, expect=2)
    assert "parameter 'device' is 'cuda' but no GPU is visible" in failed.stderr
    assert "use device 'auto'" in failed.stderr


def test_evaluate_refuses_features_with_other_labels(chain: dict[str, Path], tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text(json.dumps({"kind": "sklearn", "labels": ["only", "two"]}))
    failed = run_script("evaluate/evaluate.py", "--model", model, "--features", chain["features"],
                        "--output", tmp_path / "e", expect=2)
    assert "the model was trained on labels ['only', 'two']" in failed.stderr
