"""Turn the train/valid/test splits into model features.

Two kinds, one folder:
- token ids for the transformer: ``<split>_ids.npy`` (int32, ``rows × max_length``,
  padded with ``[PAD]`` = 0, truncated at ``max_length``), from the trained tokenizer;
- hashed word n-gram counts for the baseline: ``<split>_hashed.npz`` (SciPy CSR,
  ``rows × hash_features``); being stateless, hashing needs no fitting, and the baseline
  learns TF-IDF weights from the training split itself.
Labels are ``<split>_labels.npy`` (int64 indexes into ``labels.json``, the sorted label
names of the training split). ``tokenizer.json`` is copied along, so the folder is all
a model needs.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

from components.library.scripting import fail, output_folder, read_parquet, write_json

SPLITS = ("train", "valid", "test")


def token_ids(tokenizer, texts: list[str], max_length: int) -> tuple[np.ndarray, float]:
    """Padded id matrix and the share of texts that were truncated."""
    tokenizer.no_padding()
    tokenizer.no_truncation()
    encoded = tokenizer.encode_batch(texts)
    ids = np.zeros((len(texts), max_length), dtype=np.int32)
    truncated = 0
    for row, item in enumerate(encoded):
        seq = item.ids[:max_length]
        truncated += len(item.ids) > max_length
        ids[row, : len(seq)] = seq
    return ids, truncated / max(len(texts), 1)


def label_indexes(labels: pd.Series, classes: list[str], split: str) -> np.ndarray:
    """Label names as indexes into ``classes``; a label unseen in training is an error."""
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        fail(f"split '{split}' has labels {unknown} that the training split lacks ({classes}); "
             "re-split the data so that every label is in the training split")
    return labels.map(index).to_numpy(dtype=np.int64)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for split in SPLITS:
        parser.add_argument(f"--{split}", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--hash_features", type=int, default=262144)
    parser.add_argument("--ngram_max", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    if args.max_length < 1 or args.hash_features < 16 or args.ngram_max < 1:
        fail("parameters 'max_length' (>= 1), 'hash_features' (>= 16) and 'ngram_max' (>= 1) are out of range")
    from tokenizers import Tokenizer

    tokenizer_file = Path(args.tokenizer) / "tokenizer.json"
    if not tokenizer_file.is_file():
        fail(f"input 'tokenizer' has no 'tokenizer.json' in '{args.tokenizer}'; connect text_train_tokenizer's output")
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    frames = {split: read_parquet(getattr(args, split), "data.parquet", split) for split in SPLITS}
    classes = sorted(frames["train"]["label"].astype(str).unique())
    hasher = HashingVectorizer(
        n_features=args.hash_features, ngram_range=(1, args.ngram_max), alternate_sign=False, norm=None
    )
    folder = output_folder(args.output)
    meta: dict = {"max_length": args.max_length, "hash_features": args.hash_features, "ngram_max": args.ngram_max,
                  "vocab_size": tokenizer.get_vocab_size(), "pad_id": 0, "rows": {}, "truncated": {}}
    for split, frame in frames.items():
        texts = frame["text"].astype(str).tolist()
        ids, truncated = token_ids(tokenizer, texts, args.max_length)
        np.save(folder / f"{split}_ids.npy", ids)
        np.save(folder / f"{split}_labels.npy", label_indexes(frame["label"].astype(str), classes, split))
        sparse.save_npz(folder / f"{split}_hashed.npz", hasher.transform(texts).tocsr().astype(np.float32))
        meta["rows"][split] = len(texts)
        meta["truncated"][split] = round(truncated, 6)
        print(f"{split}: {len(texts)} rows, {truncated:.1%} truncated at {args.max_length} tokens")
    write_json(folder / "labels.json", classes)
    write_json(folder / "features.json", meta)
    shutil.copyfile(tokenizer_file, folder / "tokenizer.json")


if __name__ == "__main__":
    main()
