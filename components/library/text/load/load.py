"""Load a labelled text dataset (CSV, JSONL or Parquet files in a folder) into one Parquet file.

Every ``*.csv``, ``*.jsonl``/``*.json`` (one record a line) and ``*.parquet`` file in the
input folder (or the input file itself) is read, the text and label columns are
picked and renamed to ``text`` and ``label``, and the rows are written, in file-name
order, to ``data.parquet`` in the output folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from components.library.scripting import fail, output_folder

READERS = {
    ".csv": lambda path: pd.read_csv(path, dtype=str, keep_default_na=False),
    ".jsonl": lambda path: pd.read_json(path, lines=True, dtype=False),
    ".json": lambda path: pd.read_json(path, lines=True, dtype=False),
    ".parquet": pd.read_parquet,
}


def dataset_files(source: Path) -> list[Path]:
    """The readable files of ``source`` (a folder, searched recursively, or one file), sorted."""
    if source.is_file():
        files = [source] if source.suffix.lower() in READERS else []
    elif source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in READERS)
    else:
        fail(f"input 'raw' path '{source}' does not exist; expected a folder of CSV, JSONL or Parquet files")
    if not files:
        fail(
            f"input 'raw' at '{source}' holds no .csv, .jsonl, .json or .parquet file; "
            "expected a labelled text dataset in one of those formats"
        )
    return files


def load(source: Path, text_column: str, label_column: str) -> pd.DataFrame:
    """One frame with columns ``text`` and ``label`` (strings) from every file of ``source``."""
    frames = []
    for path in dataset_files(source):
        try:
            frame = READERS[path.suffix.lower()](path)
        except (ValueError, OSError) as exc:
            fail(f"file '{path.name}' of input 'raw' cannot be read as {path.suffix[1:]}: {exc}")
        missing = [c for c in (text_column, label_column) if c not in frame.columns]
        if missing:
            fail(
                f"file '{path.name}' has no column {', '.join(repr(c) for c in missing)}; it has "
                f"{list(map(str, frame.columns))}. Set the parameters 'text_column' and 'label_column' "
                "to the names it uses"
            )
        part = frame[[text_column, label_column]].rename(columns={text_column: "text", label_column: "label"})
        frames.append(part.assign(source=path.name))
    data = pd.concat(frames, ignore_index=True)
    data["text"] = data["text"].fillna("").astype(str)
    data["label"] = data["label"].fillna("").astype(str)
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True)
    parser.add_argument("--text_column", default="text")
    parser.add_argument("--label_column", default="label")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    data = load(Path(args.raw), args.text_column, args.label_column)
    folder = output_folder(args.output)
    data.to_parquet(folder / "data.parquet", index=False)
    print(f"loaded {len(data)} rows with {data['label'].nunique()} labels from {data['source'].nunique()} file(s)")


if __name__ == "__main__":
    main()
