"""Split a labelled dataset into train, validation and test sets, stratified by label and seeded.

Labels with too few rows to appear in every split are kept in the training split only
(and reported), so a rare class never breaks the stratified split.
"""

from __future__ import annotations

import argparse

import pandas as pd
from sklearn.model_selection import train_test_split

from components.library.scripting import fail, output_folder, read_parquet, write_json


def split(data: pd.DataFrame, valid_fraction: float, test_fraction: float, seed: int) -> dict[str, pd.DataFrame]:
    """``{"train", "valid", "test"}`` frames; every label with enough rows is in each, in proportion."""
    counts = data["label"].value_counts()
    rare = counts[counts < 10].index
    kept, rare_rows = data[~data["label"].isin(rare)], data[data["label"].isin(rare)]
    if kept.empty:
        fail(f"no label has 10 rows or more ({dict(counts)}); a stratified split needs more data")
    rest, test = train_test_split(kept, test_size=test_fraction, stratify=kept["label"], random_state=seed)
    train, valid = train_test_split(
        rest, test_size=valid_fraction / (1 - test_fraction), stratify=rest["label"], random_state=seed
    )
    if len(rare):
        print(f"labels with fewer than 10 rows kept in train only: {sorted(rare)}")
    train = pd.concat([train, rare_rows])
    return {name: part.reset_index(drop=True) for name, part in (("train", train), ("valid", valid), ("test", test))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--valid_fraction", type=float, default=0.1)
    parser.add_argument("--test_fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--train", required=True)
    parser.add_argument("--valid", required=True)
    parser.add_argument("--test", required=True)
    args = parser.parse_args(argv)
    if not (0 < args.valid_fraction < 1 and 0 < args.test_fraction < 1 and args.valid_fraction + args.test_fraction < 1):
        fail(f"parameters 'valid_fraction' ({args.valid_fraction}) and 'test_fraction' ({args.test_fraction}) "
             "must each lie between 0 and 1 and add up to less than 1")
    data = read_parquet(args.dataset, "data.parquet", "dataset")
    parts = split(data, args.valid_fraction, args.test_fraction, args.seed)
    for name, frame in parts.items():
        folder = output_folder(getattr(args, name))
        frame.to_parquet(folder / "data.parquet", index=False)
        write_json(folder / "labels.json", {k: int(v) for k, v in frame["label"].value_counts().sort_index().items()})
        print(f"{name}: {len(frame)} rows")


if __name__ == "__main__":
    main()
