import sys
from pathlib import Path

count, out = int(sys.argv[1]), Path(sys.argv[2])
(out / "numbers.txt").write_text("".join(f"{i}\n" for i in range(1, count + 1)))
print(f"wrote {count} numbers")
