"""Copy every CSV row whose 'text' column has at least --min-len characters."""
import argparse
import csv
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--raw", required=True)
parser.add_argument("--min-len", type=int, default=3)
parser.add_argument("--out", required=True)
args = parser.parse_args()

out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
kept = 0
for path in sorted(Path(args.raw).glob("*.csv")):
    with path.open() as src, (out / path.name).open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
        writer.writeheader()
        for row in reader:
            if len(row["text"]) >= args.min_len:
                writer.writerow(row)
                kept += 1
print(f"kept {kept} rows")
