"""Clean a text dataset: normalise, drop empty labels, filter by length, deduplicate.

Normalisation: Unicode NFKC, control characters removed, whitespace collapsed, optional
lower-casing. Length is counted in characters after normalisation. Duplicates are rows
whose normalised text is equal (the first one is kept); a text seen with two different
labels is kept once, with its most frequent label. Counts of what was removed are logged
as metrics and written to ``stats.json``.
"""

from __future__ import annotations

import argparse
import unicodedata

import pandas as pd

from components.library.scripting import boolean, fail, output_folder, read_parquet, write_json
from components.metrics import log_metric


def normalise(texts: pd.Series, lowercase: bool) -> pd.Series:
    """NFKC, no control characters, single spaces, stripped; lower-cased when asked."""
    out = texts.map(lambda t: unicodedata.normalize("NFKC", t))
    out = out.str.replace(r"[\x00-\x08\x0b-\x1f\x7f]", "", regex=True)
    out = out.str.replace(r"\s+", " ", regex=True).str.strip()
    return out.str.lower() if lowercase else out


def clean(data: pd.DataFrame, lowercase: bool, min_chars: int, max_chars: int, dedupe: bool) -> tuple[pd.DataFrame, dict]:
    """The cleaned frame and the counts of rows removed by each rule."""
    stats: dict[str, int] = {"rows_in": len(data)}
    data = data.assign(text=normalise(data["text"].astype(str), lowercase), label=data["label"].astype(str).str.strip())
    empty_label = data["label"] == ""
    stats["empty_label"] = int(empty_label.sum())
    data = data[~empty_label]
    length = data["text"].str.len()
    stats["too_short"] = int((length < min_chars).sum())
    stats["too_long"] = int((length > max_chars).sum())
    data = data[(length >= min_chars) & (length <= max_chars)]
    if dedupe:
        before = len(data)
        pairs = data.groupby(["text", "label"], sort=False).size().rename("n").reset_index()
        majority = pairs.sort_values("n", ascending=False, kind="stable").drop_duplicates("text")
        data = data.drop_duplicates("text", keep="first").copy()
        data["label"] = data["text"].map(majority.set_index("text")["label"])
        stats["duplicates"] = before - len(data)
    else:
        stats["duplicates"] = 0
    stats["rows_out"] = len(data)
    return data.reset_index(drop=True), stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--lowercase", type=boolean, default=True)
    parser.add_argument("--min_chars", type=int, default=10)
    parser.add_argument("--max_chars", type=int, default=1000)
    parser.add_argument("--dedupe", type=boolean, default=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    if args.min_chars < 0 or args.max_chars < args.min_chars:
        fail(f"parameters 'min_chars' ({args.min_chars}) and 'max_chars' ({args.max_chars}) "
             "must satisfy 0 <= min_chars <= max_chars")
    data = read_parquet(args.dataset, "data.parquet", "dataset")
    cleaned, stats = clean(data, args.lowercase, args.min_chars, args.max_chars, args.dedupe)
    if cleaned.empty:
        fail(f"cleaning removed every row ({stats}); relax 'min_chars'/'max_chars' or check the input")
    folder = output_folder(args.output)
    cleaned.to_parquet(folder / "data.parquet", index=False)
    write_json(folder / "stats.json", stats)
    for name, value in stats.items():
        log_metric(name, value)


if __name__ == "__main__":
    main()
