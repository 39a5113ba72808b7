"""Split a table into a training and a test set, reproducibly from a seed (rows shuffled)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from sklearn.model_selection import train_test_split

from components.library.scripting import fail, output_folder, read_parquet


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--test_fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    args = parser.parse_args(argv)
    if not 0 < args.test_fraction < 1:
        fail(f"parameter 'test_fraction' is {args.test_fraction}; expected a number between 0 and 1")
    data = read_parquet(args.dataset, "data.parquet", "dataset")
    if len(data) < 2:
        fail(f"input 'dataset' has {len(data)} row(s); a split needs at least 2")
    train, test = train_test_split(data, test_size=args.test_fraction, random_state=args.seed)
    schema = Path(args.dataset) / "schema.json"
    for name, part in (("train", train), ("test", test)):
        folder = output_folder(getattr(args, name))
        part.reset_index(drop=True).to_parquet(folder / "data.parquet", index=False)
        if schema.is_file():
            shutil.copyfile(schema, folder / "schema.json")
        print(f"{name}: {len(part)} rows")


if __name__ == "__main__":
    main()
