import sys
from pathlib import Path

src, factor, mode, out = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
values = [float(line) for line in (src / "numbers.txt").read_text().split()]
scaled = [v * factor if mode == "multiply" else v / factor for v in values]
(out / "numbers.txt").write_text("".join(f"{v:g}\n" for v in scaled))
print(f"scaled {len(scaled)} numbers by {factor} ({mode})")
