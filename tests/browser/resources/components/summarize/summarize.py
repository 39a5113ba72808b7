import json
import sys
from pathlib import Path

src, out = Path(sys.argv[1]), Path(sys.argv[2])
values = [float(line) for line in (src / "numbers.txt").read_text().split()]
summary = {"count": len(values), "total": sum(values)}
(out / "summary.json").write_text(json.dumps(summary))
print(f"SUMMARY total={summary['total']:g}")
