import sys
from pathlib import Path

Path(sys.argv[2], "greeting.txt").write_text(f"hello {sys.argv[1]}\n")
