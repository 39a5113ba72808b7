"""Train a small transformer text classifier from scratch in PyTorch.

Uses CUDA when a GPU is visible and says which device it trains on and why. Logs the
training loss, validation loss and validation accuracy per epoch. Writes ``model.pt``
(weights), ``model.json`` (architecture, labels, history), ``text_model.py`` (the model
code, see :mod:`text_model`) and ``tokenizer.json``: the folder alone serves predictions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np

from components.library.scripting import fail, output_folder, read_json, write_json
from components.metrics import log_metric

try:
    import torch
except ImportError:
    torch = None

HERE = Path(__file__).resolve().parent


def choose_device(requested: str) -> tuple[str, str]:
    """``(device, reason)``: CUDA when asked for or available, else the CPU, with the reason why."""
    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        fail("parameter 'device' is 'cuda' but no GPU is visible to this step "
             f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}, torch {torch.__version__}, "
             f"built with CUDA: {torch.version.cuda or 'no'}); use device 'auto' to fall back to the CPU")
    if requested == "cpu":
        return "cpu", "device 'cpu' requested: training on CPU"
    if available:
        name = torch.cuda.get_device_name(0)
        return "cuda", f"GPU visible ({name}): training on CUDA"
    why = "this PyTorch build has no CUDA support" if not torch.version.cuda else "no CUDA device found"
    return "cpu", f"no GPU visible: training on CPU ({why})"


def load_split(features: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    ids, labels = features / f"{split}_ids.npy", features / f"{split}_labels.npy"
    if not ids.is_file() or not labels.is_file():
        fail(f"input 'features' lacks '{ids.name}' or '{labels.name}' in '{features}'; connect text_featurise's output")
    return np.load(ids), np.load(labels)


def trim(ids: np.ndarray) -> np.ndarray:
    """The batch without its trailing all-padding columns (padding is 0): less work, same result."""
    used = np.flatnonzero(ids.any(axis=0))
    return ids[:, : used[-1] + 1] if len(used) else ids[:, :1]


def evaluate(model, ids: np.ndarray, labels: np.ndarray, device: str, batch_size: int) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a whole split."""
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids), batch_size):
            x = torch.as_tensor(trim(ids[start : start + batch_size]), dtype=torch.long, device=device)
            y = torch.as_tensor(labels[start : start + batch_size], dtype=torch.long, device=device)
            logits = model(x)
            total_loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(-1) == y).sum())
    return total_loss / max(len(ids), 1), correct / max(len(ids), 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--learning_rate", type=float, default=0.001)
    parser.add_argument("--d_model", type=int, default=64)
    parser.add_argument("--n_heads", type=int, default=4)
    parser.add_argument("--n_layers", type=int, default=2)
    parser.add_argument("--dim_feedforward", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--max_train_rows", type=int, default=0, help="0 = every row")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    if torch is None:
        fail("component 'text_train_transformer' needs PyTorch, which is not installed in this environment; "
             "install it with: pip install 'ductwork[torch]'")
    if args.d_model % args.n_heads:
        fail(f"parameter 'd_model' ({args.d_model}) must be a multiple of 'n_heads' ({args.n_heads})")
    if args.epochs < 1 or args.batch_size < 1 or args.learning_rate <= 0:
        fail("parameters 'epochs' and 'batch_size' must be >= 1 and 'learning_rate' > 0")

    from text_model import TextClassifier

    device, reason = choose_device(args.device)
    print(reason, flush=True)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    features = Path(args.features)
    meta = read_json(features / "features.json", "features")
    classes = read_json(features / "labels.json", "features")
    x_train, y_train = load_split(features, "train")
    x_valid, y_valid = load_split(features, "valid")
    if args.max_train_rows > 0:
        x_train, y_train = x_train[: args.max_train_rows], y_train[: args.max_train_rows]
    architecture = {"vocab_size": int(meta["vocab_size"]), "num_classes": len(classes),
                    "max_length": int(x_train.shape[1]), "d_model": args.d_model, "n_heads": args.n_heads,
                    "n_layers": args.n_layers, "dim_feedforward": args.dim_feedforward,
                    "dropout": args.dropout, "pad_id": int(meta.get("pad_id", 0))}
    model = TextClassifier(**architecture).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)
    print(f"training on {len(x_train)} rows, validating on {len(x_valid)}, "
          f"{sum(p.numel() for p in model.parameters())} parameters, {torch.get_num_threads()} CPU threads", flush=True)
    history = []
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = rng.permutation(len(x_train))
        total, seen = 0.0, 0
        for start in range(0, len(order), args.batch_size):
            index = order[start : start + args.batch_size]
            x = torch.as_tensor(trim(x_train[index]), dtype=torch.long, device=device)
            y = torch.as_tensor(y_train[index], dtype=torch.long, device=device)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(index)
            seen += len(index)
        valid_loss, valid_accuracy = evaluate(model, x_valid, y_valid, device, 512)
        row = {"epoch": epoch, "train_loss": total / seen, "valid_loss": valid_loss, "valid_accuracy": valid_accuracy}
        history.append(row)
        for name in ("train_loss", "valid_loss", "valid_accuracy"):
            log_metric(name, row[name], step=epoch)
        print(f"epoch {epoch}/{args.epochs}: train loss {row['train_loss']:.4f}, valid loss {valid_loss:.4f}, "
              f"valid accuracy {valid_accuracy:.4f} ({time.perf_counter() - started:.1f}s)", flush=True)

    folder = output_folder(args.output)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, folder / "model.pt")
    shutil.copyfile(HERE / "text_model.py", folder / "text_model.py")
    shutil.copyfile(features / "tokenizer.json", folder / "tokenizer.json")
    write_json(folder / "model.json", {"kind": "transformer", "input": "ids", "architecture": architecture,
                                       "labels": classes, "device": device, "history": history})


if __name__ == "__main__":
    main()
